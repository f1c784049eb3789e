import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from surveys.models import Edition
from surveys.selectors import edition_definition


class Command(BaseCommand):
    help = "Print an edition's questionnaire as the project's JSON definition (importable again)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--series", required=True)
        parser.add_argument("--edition", required=True)

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            edition = Edition.objects.get(series__slug=opts["series"], label=opts["edition"])
        except Edition.DoesNotExist:
            raise CommandError(f"no edition {opts['edition']} in series {opts['series']}") from None
        self.stdout.write(json.dumps(edition_definition(edition), indent=2, ensure_ascii=False))
