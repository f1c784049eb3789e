from django.apps import AppConfig
from django.db.backends.signals import connection_created


class CodingConfig(AppConfig):
    """Free-text coding: codebooks, human codes and automatic suggestions (issue: free-text coding)."""

    name = "coding"

    def ready(self) -> None:
        from coding.finals import sqlite_functions

        connection_created.connect(sqlite_functions, dispatch_uid="coding-sqlite-functions")
