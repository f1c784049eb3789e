"""Reads: editions, their definitions and compiled questionnaires."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import QuerySet

from surveys.definition import FORMAT, validate_definition
from surveys.models import ChoiceList, Edition, EditionStatus, Group, Item
from surveys.questionnaire import Questionnaire


def editions_list(*, series_slug: str | None = None, status: str | None = None) -> QuerySet[Edition]:
    qs = Edition.objects.select_related("series").order_by("series__slug", "label")
    if series_slug:
        qs = qs.filter(series__slug=series_slug)
    if status:
        qs = qs.filter(status=status)
    return qs


def _decimal_text(value: Any) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def edition_definition_from_rows(edition: Edition) -> dict[str, Any]:
    """Serialise the stored questionnaire to the JSON definition (docs/questionnaire-format.md)."""
    lists = ChoiceList.objects.filter(edition=edition).prefetch_related("choices").order_by("position")
    groups = list(Group.objects.filter(edition=edition).order_by("position"))
    items = list(Item.objects.filter(edition=edition).select_related("choice_list").order_by("position"))

    # Children of each group in document order; groups and items share one position sequence.
    children: dict[int | None, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    group_nodes: dict[int, dict[str, Any]] = {}
    for group in groups:
        node = {
            "code": group.code,
            "label": group.label,
            "relevant": group.relevant,
            "appearance": group.appearance,
            "children": [],
        }
        if group.parent_id is not None:
            node = {"kind": "group", **node}
        group_nodes[group.pk] = node
        children[group.parent_id].append((group.position, node))
    for item in items:
        children[item.group_id].append(
            (
                item.position,
                {
                    "kind": "item",
                    "code": item.code,
                    "type": item.type,
                    "label": item.label,
                    "hint": item.hint,
                    "required": item.required,
                    "required_message": item.required_message,
                    "relevant": item.relevant,
                    "constraint": item.constraint,
                    "constraint_message": item.constraint_message,
                    "appearance": item.appearance,
                    "choice_list": item.choice_list.name if item.choice_list else None,
                    "min": _decimal_text(item.min_value),
                    "max": _decimal_text(item.max_value),
                    "quasi_identifier": item.quasi_identifier,
                },
            )
        )
    for group_pk, node in group_nodes.items():
        node["children"] = [child for _, child in sorted(children[group_pk], key=lambda pair: pair[0])]
    return {
        "format": FORMAT,
        "title": edition.title,
        "form_id": edition.form_id,
        "version": edition.version,
        "default_language": edition.default_language,
        "languages": edition.languages,
        "choice_lists": {
            cl.name: [{"code": c.code, "label": c.label} for c in cl.choices.all()] for cl in lists
        },
        "groups": [node for _, node in sorted(children[None], key=lambda pair: pair[0])],
    }


def edition_definition(edition: Edition) -> dict[str, Any]:
    """The frozen definition of an opened edition, or the current draft's."""
    if edition.status != EditionStatus.DRAFT and edition.frozen_definition is not None:
        return edition.frozen_definition  # type: ignore[no-any-return]
    return validate_definition(edition_definition_from_rows(edition))


# Frozen editions never change, so each process compiles one at most once (keyed by its hash).
_compiled: dict[tuple[int, str], Questionnaire] = {}


def edition_questionnaire(edition: Edition) -> Questionnaire:
    """The compiled questionnaire of an edition (frozen, or the current draft)."""
    if edition.status == EditionStatus.DRAFT:
        return Questionnaire(edition_definition(edition))
    # Look in the cache before touching frozen_definition: callers on the hot path defer that column.
    key = (edition.pk, edition.definition_sha256)
    questionnaire = _compiled.get(key)
    if questionnaire is None:
        questionnaire = _compiled[key] = Questionnaire(edition_definition(edition))
    return questionnaire
