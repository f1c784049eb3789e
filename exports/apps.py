from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """Anonymised exports built by Celery jobs (issue: anonymised exports)."""

    name = "exports"
