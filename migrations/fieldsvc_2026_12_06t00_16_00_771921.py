from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T00:16:00:771921"
VERSION = "1.38.0"
DESCRIPTION = "V-SIGN ink print of signatures"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="fieldsvc", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Photo",
        tablename="photo",
        column_name="ink_print",
        db_column_name="ink_print",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 384,
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
