from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "B-ASSIGN: a reschedule keeps the reason a technician's overlap was let stand"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="fieldsvc", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Reschedule",
        tablename="reschedule",
        column_name="override_reason",
        db_column_name="override_reason",
        column_class_name="Text",
        column_class=Text,
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
