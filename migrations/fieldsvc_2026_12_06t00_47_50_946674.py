from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T00:47:50:946674"
VERSION = "1.38.0"
DESCRIPTION = "E-REUSE which photo of a match came first"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="fieldsvc", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="PhotoMatch",
        tablename="photo_match",
        column_name="other_first",
        db_column_name="other_first",
        column_class_name="Boolean",
        column_class=Boolean,
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
