from django.apps import AppConfig


class ResultsConfig(AppConfig):
    """Aggregated results of released responses, under disclosure control (tables, charts, API)."""

    name = "results"
