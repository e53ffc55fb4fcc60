"""Piccolo's configuration module: the app registry, and the engine the CLI or tests bind at run time."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine

# Replaced by fieldsvc.db.bind_engine before any query runs; None keeps import free of I/O and settings.
DB: Engine | None = None

APP_REGISTRY = AppRegistry(apps=["fieldsvc.piccolo_app"])
