"""The single Piccolo app that owns every fieldsvc table and the migrations folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from fieldsvc.tables import ALL_TABLES

APP_CONFIG = AppConfig(
    app_name="fieldsvc",
    migrations_folder_path=str(Path(__file__).resolve().parent.parent / "migrations"),
    table_classes=list(ALL_TABLES),
    migration_dependencies=[],
    commands=[],
)
