from django.apps import AppConfig


class CodingConfig(AppConfig):
    """Free-text coding: codebooks, human codes and automatic suggestions (issue: free-text coding)."""

    name = "coding"
