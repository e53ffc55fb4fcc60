from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T11:08:50:903197"
VERSION = "1.38.0"
DESCRIPTION = "A-DECIDE the violations a decision covered"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="fieldsvc", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="ReviewDecision",
        tablename="review_decision",
        column_name="decided_codes",
        db_column_name="decided_codes",
        column_class_name="JSON",
        column_class=JSON,
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
