"""createuser EMAIL --role ROLE [--vetted] [--password P] [--api-token], or --csv FILE [--api-token]."""

import csv
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Role
from accounts.services import api_token_create, user_create

_TRUE = {"1", "true", "yes", "y"}


class Command(BaseCommand):
    help = "Create accounts with a role; optionally print an API token (the last word of the output)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("email", nargs="?")
        parser.add_argument("--role", choices=[r.value for r in Role])
        parser.add_argument("--vetted", action="store_true", help="officers only: skip the vetting queue")
        parser.add_argument("--password", help="without it the account has no usable password")
        parser.add_argument("--api-token", action="store_true")
        parser.add_argument("--csv", type=Path, help="columns: email, role, vetted")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["csv"]:
            if opts["email"]:
                raise CommandError("give either EMAIL or --csv, not both")
            self._from_csv(opts["csv"], with_token=opts["api_token"])
            return
        if not opts["email"] or not opts["role"]:
            raise CommandError("EMAIL and --role are required (or --csv FILE)")
        role = Role(opts["role"])
        if opts["vetted"] and role != Role.OFFICER:
            raise CommandError("--vetted applies to officers only")
        try:
            user = user_create(
                email=opts["email"], role=role, password=opts["password"], vetted=opts["vetted"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"created {user.email} ({role.value}{', vetted' if opts['vetted'] else ''})")
        if opts["api_token"]:
            self.stdout.write(f"API token: {api_token_create(user=user)}")

    def _from_csv(self, path: Path, *, with_token: bool) -> None:
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        problems = []
        parsed: list[tuple[str, Role, bool]] = []
        for line, row in enumerate(rows, start=2):
            email = (row.get("email") or "").strip()
            role_raw = (row.get("role") or "").strip().lower()
            if not email:
                problems.append(f"line {line}: email is empty")
                continue
            if role_raw not in Role.values:
                problems.append(f"line {line}: role {role_raw!r} is not one of {', '.join(Role.values)}")
                continue
            parsed.append((email, Role(role_raw), (row.get("vetted") or "").strip().lower() in _TRUE))
        if problems:
            raise CommandError("nothing created:\n" + "\n".join(problems))
        # All or nothing: a bad row must not leave half a batch behind.
        try:
            with transaction.atomic():
                created = [
                    (user_create(email=email, role=role, vetted=vetted and role == Role.OFFICER), role)
                    for email, role, vetted in parsed
                ]
                tokens = [api_token_create(user=user) if with_token else "" for user, _ in created]
        except ValueError as exc:
            raise CommandError(f"nothing created: {exc}") from exc
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(["email", "token"] if with_token else ["email"])
        for (user, _), token in zip(created, tokens, strict=True):
            writer.writerow([user.email, token] if with_token else [user.email])
