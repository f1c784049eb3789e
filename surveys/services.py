"""Writes on series and editions: import, replace a draft, open (freeze), close, archive.

Every rule about the edition lifecycle lives here; views, API and tasks only call these functions.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from accounts.tasks import participations_invite_task
from config.jobs import enqueue_on_commit
from responses.ballots import ballot_key_create, ballot_key_destroy
from responses.jobs import enqueue_pool_release
from surveys.definition import DefinitionError, DefinitionInvalid, iter_items, validate_definition
from surveys.models import Choice, ChoiceList, Edition, EditionStatus, Group, Item, Series
from surveys.selectors import edition_definition
from surveys.xlsform import xlsform_to_definition

# The label names files (the definition download, every export file), so it must be safe as one.
EDITION_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


class LifecycleError(Exception):
    """An edition is not in a state that allows the requested change."""


def series_get_or_create(*, slug: str, title: str | None = None) -> Series:
    series, _ = Series.objects.get_or_create(
        slug=slug, defaults={"title": title or slug.replace("-", " ").title()}
    )
    return series


def definition_from_upload(*, fileobj: IO[bytes], filename: str) -> dict[str, Any]:
    """Read an uploaded questionnaire (XLSForm .xlsx or the project's JSON) into a normalised definition."""
    max_bytes: int = settings.IMPORT_MAX_BYTES
    name = filename.lower()
    if name.endswith(".json"):
        raw = fileobj.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise DefinitionInvalid(
                [DefinitionError(f"The file is larger than {max_bytes:,} bytes.", None, None)]
            )
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DefinitionInvalid([DefinitionError(f"Not valid JSON: {exc}", None, None)]) from None
        except RecursionError:
            raise DefinitionInvalid(
                [DefinitionError("Not valid JSON: nested too deeply to be a questionnaire.", None, None)]
            ) from None
        return validate_definition(data)
    if name.endswith(".xlsx"):
        return xlsform_to_definition(fileobj, max_bytes=max_bytes)
    raise DefinitionInvalid(
        [DefinitionError("Upload an XLSForm (.xlsx) or a questionnaire definition (.json).", None, None)]
    )


def _check_series_compatibility(*, series: Series, definition: dict[str, Any], label: str) -> None:
    """An item code means the same question in every edition of a series, so its type may not change."""
    earlier = dict(
        Item.objects.filter(edition__series=series).exclude(edition__label=label).values_list("code", "type")
    )
    errors = [
        DefinitionError(
            f"Item {item['code']!r} is {earlier[item['code']]} in another edition of this series, "
            f"not {item['type']}; an item code must keep its meaning across editions.",
            item["code"],
            "type",
        )
        for item, _groups in iter_items(definition)
        if item["code"] in earlier and earlier[item["code"]] != item["type"]
    ]
    if errors:
        raise DefinitionInvalid(errors)


def _write_questionnaire(*, edition: Edition, definition: dict[str, Any]) -> None:
    lists: dict[str, ChoiceList] = {}
    for list_position, (name, choices) in enumerate(definition["choice_lists"].items()):
        lists[name] = ChoiceList.objects.create(edition=edition, name=name, position=list_position)
        Choice.objects.bulk_create(
            Choice(choice_list=lists[name], code=c["code"], label=c["label"], position=i)
            for i, c in enumerate(choices)
        )
    position = 0

    def write_children(parent: Group, nodes: list[dict[str, Any]]) -> None:
        nonlocal position
        for node in nodes:
            position += 1
            if node.get("kind") == "group":
                write_group(node, parent)
                continue
            Item.objects.create(
                edition=edition,
                group=parent,
                code=node["code"],
                type=node["type"],
                label=node["label"],
                hint=node["hint"],
                required=node["required"],
                required_message=node["required_message"],
                relevant=node["relevant"],
                constraint=node["constraint"],
                constraint_message=node["constraint_message"],
                appearance=node["appearance"],
                choice_list=lists[node["choice_list"]] if node["choice_list"] else None,
                min_value=Decimal(node["min"]) if node["min"] is not None else None,
                max_value=Decimal(node["max"]) if node["max"] is not None else None,
                quasi_identifier=node["quasi_identifier"],
                position=position,
            )

    def write_group(node: dict[str, Any], parent: Group | None) -> None:
        nonlocal position
        group = Group.objects.create(
            edition=edition,
            parent=parent,
            code=node["code"],
            label=node["label"],
            relevant=node["relevant"],
            appearance=node["appearance"],
            position=position,
        )
        write_children(group, node["children"])

    for page in definition["groups"]:
        position += 1
        write_group(page, None)


def _apply_header(edition: Edition, definition: dict[str, Any]) -> None:
    edition.title = definition["title"]
    edition.form_id = definition["form_id"]
    edition.version = definition["version"]
    edition.default_language = definition["default_language"]
    edition.languages = definition["languages"]


@transaction.atomic
def edition_import_definition(
    *, series: Series, label: str, definition: dict[str, Any], actor: User | None = None
) -> Edition:
    """Create a draft edition from a definition. All or nothing: a bad definition leaves no trace."""
    definition = validate_definition(definition)
    label = label.strip()
    if not EDITION_LABEL.fullmatch(label):
        raise DefinitionInvalid(
            [
                DefinitionError(
                    "The edition label must be 1 to 32 letters, digits, '.', '-' or '_', starting with "
                    "a letter or digit (e.g. 2017 or 2017-pilot).",
                    None,
                    None,
                )
            ]
        )
    if Edition.objects.filter(series=series, label=label).exists():
        raise DefinitionInvalid(
            [DefinitionError(f"Series {series.slug!r} already has an edition {label!r}.", None, None)]
        )
    _check_series_compatibility(series=series, definition=definition, label=label)
    edition = Edition(series=series, label=label)
    _apply_header(edition, definition)
    edition.save()
    _write_questionnaire(edition=edition, definition=definition)
    audit_record(
        actor=actor, action="edition.imported", target=str(edition), details={"edition_id": edition.pk}
    )
    return edition


@transaction.atomic
def edition_replace_definition(
    *, edition: Edition, definition: dict[str, Any], actor: User | None = None
) -> Edition:
    """Replace a draft's questionnaire. Refused once the edition has opened."""
    edition = Edition.objects.select_for_update().get(pk=edition.pk)
    if edition.status != EditionStatus.DRAFT:
        raise LifecycleError("Only a draft can be changed; create a new edition instead.")
    definition = validate_definition(definition)
    _check_series_compatibility(series=edition.series, definition=definition, label=edition.label)
    Item.objects.filter(edition=edition).delete()
    Group.objects.filter(edition=edition).delete()
    ChoiceList.objects.filter(edition=edition).delete()
    _apply_header(edition, definition)
    edition.save()
    _write_questionnaire(edition=edition, definition=definition)
    audit_record(
        actor=actor, action="edition.replaced", target=str(edition), details={"edition_id": edition.pk}
    )
    return edition


def definition_sha256(definition: dict[str, Any]) -> str:
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@transaction.atomic
def edition_open(
    *, edition: Edition, closes_at: datetime, opens_at: datetime | None = None, actor: User | None = None
) -> Edition:
    """Publish a draft with its answer window and freeze its questionnaire."""
    edition = Edition.objects.select_for_update().get(pk=edition.pk)
    if edition.status != EditionStatus.DRAFT:
        raise LifecycleError(
            f"Only a draft can be opened; this edition is {edition.get_status_display().lower()}."
        )
    now = timezone.now()
    opens_at = opens_at or now
    if closes_at <= opens_at:
        raise LifecycleError("The closing time must be after the opening time.")
    if closes_at <= now:
        raise LifecycleError("The closing time must be in the future.")
    definition = edition_definition(edition)
    edition.frozen_definition = definition
    edition.definition_sha256 = definition_sha256(definition)
    edition.opens_at = opens_at
    edition.closes_at = closes_at
    edition.status = EditionStatus.OPEN
    edition.save()
    ballot_key_create(edition)
    audit_record(
        actor=actor,
        action="edition.opened",
        target=str(edition),
        details={
            "edition_id": edition.pk,
            "closes_at": closes_at.isoformat(),
            "sha256": edition.definition_sha256,
        },
    )
    enqueue_on_commit(participations_invite_task, edition.pk)
    return edition


@transaction.atomic
def edition_close(*, edition: Edition, actor: User | None = None) -> Edition:
    edition = Edition.objects.select_for_update().get(pk=edition.pk)
    if edition.status != EditionStatus.OPEN:
        raise LifecycleError(
            f"Only an open edition can be closed; this one is {edition.get_status_display().lower()}."
        )
    edition.status = EditionStatus.CLOSED
    now = timezone.now()
    if edition.closes_at is None or edition.closes_at > now:
        edition.closes_at = now
        if edition.opens_at is not None and edition.opens_at >= now:
            edition.opens_at = None  # closed before it ever opened
    edition.save()
    audit_record(
        actor=actor, action="edition.closed", target=str(edition), details={"edition_id": edition.pk}
    )
    ballot_key_destroy(edition)
    enqueue_pool_release(edition.pk)
    return edition


@transaction.atomic
def edition_archive(*, edition: Edition, actor: User | None = None) -> Edition:
    edition = Edition.objects.select_for_update().get(pk=edition.pk)
    if edition.status != EditionStatus.CLOSED:
        raise LifecycleError("Only a closed edition can be archived.")
    edition.status = EditionStatus.ARCHIVED
    edition.save(update_fields=["status"])
    audit_record(
        actor=actor, action="edition.archived", target=str(edition), details={"edition_id": edition.pk}
    )
    return edition


@transaction.atomic
def edition_delete_draft(*, edition: Edition, actor: User | None = None) -> None:
    edition = Edition.objects.select_for_update().get(pk=edition.pk)
    if edition.status != EditionStatus.DRAFT:
        raise LifecycleError("Only a draft can be deleted.")
    target = str(edition)
    edition.delete()
    audit_record(actor=actor, action="edition.deleted", target=target)


def editions_close_due(*, now: datetime | None = None) -> list[int]:
    """Close every open edition whose closing time has passed; returns their ids. Safe to run twice."""
    now = now or timezone.now()
    closed = []
    for edition_id in Edition.objects.filter(status=EditionStatus.OPEN, closes_at__lte=now).values_list(
        "pk", flat=True
    ):
        try:
            edition_close(edition=Edition(pk=edition_id))
        except LifecycleError:
            continue  # closed meanwhile by hand or by another beat tick
        closed.append(edition_id)
    return closed
