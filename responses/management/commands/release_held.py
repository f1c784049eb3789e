from typing import Any

from django.core.management.base import BaseCommand, CommandError

from responses.services import RELEASE_WRITE_ERRORS, held_release
from surveys.models import Edition


class Command(BaseCommand):
    help = (
        "Write an edition's held submissions (ones a pool release could not write) as responses, "
        "once the cause is fixed. All or none."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("edition_id", type=int)

    def handle(self, *args: Any, edition_id: int, **opts: Any) -> None:
        if not Edition.objects.filter(pk=edition_id).exists():
            raise CommandError(f"No edition with id {edition_id}.")
        try:
            released = held_release(edition_id=edition_id)
        except RELEASE_WRITE_ERRORS as error:
            # The class only: the message may quote an answer.
            raise CommandError(
                f"The held submissions still cannot be written ({type(error).__name__})."
            ) from None
        self.stdout.write(f"{released} held submission(s) released")
