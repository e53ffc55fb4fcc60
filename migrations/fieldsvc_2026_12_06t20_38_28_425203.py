from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Bytea
from piccolo.columns.column_types import Real
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T20:38:28:425203"
VERSION = "1.38.0"
DESCRIPTION = "E-REUSE: photo reuse miniature, cropped difference of a match"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="fieldsvc", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Photo",
        tablename="photo",
        column_name="reuse_miniature",
        db_column_name="reuse_miniature",
        column_class_name="Bytea",
        column_class=Bytea,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="PhotoMatch",
        tablename="photo_match",
        column_name="cropped_difference",
        db_column_name="cropped_difference",
        column_class_name="Real",
        column_class=Real,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
