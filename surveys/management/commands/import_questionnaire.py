from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from surveys import services
from surveys.definition import DefinitionInvalid


class Command(BaseCommand):
    help = "Import an XLSForm (.xlsx) or questionnaire definition (.json) as a new draft edition."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--series", required=True, help="series slug (created if new)")
        parser.add_argument("--series-title", help="title for a new series")
        parser.add_argument("--edition", required=True, help="edition label, e.g. 2017")

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["file"]
        try:
            with path.open("rb") as fh:
                definition = services.definition_from_upload(fileobj=fh, filename=path.name)
            # All or nothing: a new series is kept only with the edition imported into it.
            with transaction.atomic():
                edition = services.edition_import_definition(
                    series=services.series_get_or_create(slug=opts["series"], title=opts["series_title"]),
                    label=opts["edition"],
                    definition=definition,
                )
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        except DefinitionInvalid as exc:
            raise CommandError(
                f"{path} was not imported ({len(exc.errors)} problem(s)):\n"
                + "\n".join(f"  {e}" for e in exc.errors)
            ) from exc
        self.stdout.write(f"imported {path.name} as draft edition {edition} (id {edition.pk})")
