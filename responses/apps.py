from django.apps import AppConfig


class ResponsesConfig(AppConfig):
    """The anonymous side: sealed staging pool, released responses and answers, receipt hashes.

    Nothing here references the identity side (accounts), and nothing here stores a time finer than
    the edition (docs/anonymity.md)."""

    name = "responses"
    verbose_name = "Responses (anonymous side)"

    def ready(self) -> None:
        from responses import signals  # noqa: F401  (registers the worker-start hook)
