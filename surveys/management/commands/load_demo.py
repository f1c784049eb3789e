"""Load the reference questionnaires and one demo account per role. Safe to run again."""

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import user_create
from coding.models import Codebook
from coding.services import coding_run_start
from responses.demo import demo_code_sample, demo_payloads_2016, demo_payloads_2017, demo_release
from responses.models import Response
from surveys import services
from surveys.models import Edition, EditionStatus
from surveys.reference import REFERENCE_DIR

SERIES_SLUG = "law-enforcement-survey"
DEMO_PASSWORD = "demo-password-1234"  # noqa: S105 - printed on purpose; demo accounts only exist with DEMO=1
DEMO_ACCOUNTS = [
    ("admin@example.org", Role.ADMINISTRATOR),
    ("analyst@example.org", Role.ANALYST),
    ("officer@example.org", Role.OFFICER),
]


class Command(BaseCommand):
    help = "Load the 2016 and 2017 reference questionnaires and demo accounts (one per role)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--no-accounts", action="store_true", help="questionnaires only")

    def handle(self, *args: Any, **opts: Any) -> None:
        series = services.series_get_or_create(slug=SERIES_SLUG, title="Annual law-enforcement survey")
        for label in ("2016", "2017"):
            if Edition.objects.filter(series=series, label=label).exists():
                continue
            with (REFERENCE_DIR / f"netclean-{label}.xlsx").open("rb") as fh:
                definition = services.definition_from_upload(fileobj=fh, filename=fh.name)
            edition = services.edition_import_definition(series=series, label=label, definition=definition)
            self.stdout.write(f"imported the {label} questionnaire")
            if label == "2017":
                # The current edition is open for a month, so the portal has something to show.
                services.edition_open(edition=edition, closes_at=timezone.now() + timedelta(days=30))
            else:
                now = timezone.now()
                services.edition_open(
                    edition=edition, opens_at=now - timedelta(days=400), closes_at=now + timedelta(seconds=5)
                )
                services.edition_close(edition=edition)
        self._load_responses(series)
        if opts["no_accounts"]:
            return
        self.stdout.write(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
        for email, role in DEMO_ACCOUNTS:
            if not User.objects.filter(email=email).exists():
                user_create(email=email, role=role, password=DEMO_PASSWORD, vetted=role == Role.OFFICER)
            self.stdout.write(f"  {role.label:<14} {email}")
        if Edition.objects.filter(series=series, status=EditionStatus.OPEN).exists():
            self.stdout.write("The 2017 edition is open; the 2016 edition is closed.")

    def _load_responses(self, series: Any) -> None:
        """Synthetic released responses reproducing the report's published figures (once)."""
        generators = {"2017": demo_payloads_2017, "2016": demo_payloads_2016}
        for label, generate in generators.items():
            edition = Edition.objects.get(series=series, label=label)
            if Response.objects.filter(edition=edition).exists():
                continue
            payloads = generate()
            count = demo_release(edition=edition, payloads=payloads)
            coded = demo_code_sample(edition=edition, payloads=payloads)
            self.stdout.write(
                f"loaded {count} synthetic responses into {label}, {coded} free-text answers coded"
            )
            # The fast classifier codes the rest, as an analyst would start it (in-process in embedded mode).
            for codebook in Codebook.objects.filter(edition=edition):
                coding_run_start(edition=edition, item_code=codebook.item_code, classifier="tfidf-lr")
