"""Turns a definition into what a page shows: pages of blocks (items, grids, sections) in one language.

Used by the staff preview and by the officer portal, so both show exactly the same questionnaire."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pycountry

from surveys.questionnaire import iso_country_codes


def localise(texts: dict[str, str] | None, language: str, default_language: str) -> str:
    texts = texts or {}
    return texts.get(language) or texts.get(default_language) or next(iter(texts.values()), "")


@dataclass
class ChoiceView:
    code: str
    label: str


@dataclass
class ItemView:
    code: str
    type: str
    label: str
    hint: str
    required: bool
    appearance: str
    relevant: str
    constraint: str
    choices: list[ChoiceView]
    min: str | None
    max: str | None

    @property
    def is_choice(self) -> bool:
        return self.type in {"select_one", "select_multiple", "yes_no", "country"}


@dataclass
class BlockView:
    kind: str  # "item", "grid" or "section"
    code: str = ""
    label: str = ""
    relevant: str = ""
    item: ItemView | None = None
    rows: list[ItemView] = field(default_factory=list)
    scale: list[ChoiceView] = field(default_factory=list)
    multiple: bool = False
    blocks: list[BlockView] = field(default_factory=list)


@dataclass
class PageView:
    number: int
    code: str
    label: str
    relevant: str
    blocks: list[BlockView]

    @property
    def item_codes(self) -> list[str]:
        codes: list[str] = []

        def walk(blocks: list[BlockView]) -> None:
            for block in blocks:
                if block.item is not None:
                    codes.append(block.item.code)
                codes.extend(row.code for row in block.rows)
                walk(block.blocks)

        walk(self.blocks)
        return codes


def _country_choices(language: str) -> list[ChoiceView]:
    return [ChoiceView(code, pycountry.countries.get(alpha_2=code).name) for code in iso_country_codes()]


def build_pages(definition: dict[str, Any], language: str | None = None) -> list[PageView]:
    default = definition["default_language"]
    language = language or default
    lists = {
        name: [ChoiceView(c["code"], localise(c["label"], language, default)) for c in choices]
        for name, choices in definition["choice_lists"].items()
    }

    def item_view(node: dict[str, Any]) -> ItemView:
        if node["choice_list"]:
            choices = lists[node["choice_list"]]
        elif node["type"] == "country":
            choices = _country_choices(language)
        else:
            choices = []
        return ItemView(
            code=node["code"],
            type=node["type"],
            label=localise(node["label"], language, default),
            hint=localise(node["hint"], language, default),
            required=node["required"],
            appearance=node["appearance"],
            relevant=node["relevant"],
            constraint=node["constraint"],
            choices=choices,
            min=node["min"],
            max=node["max"],
        )

    def blocks(children: list[dict[str, Any]]) -> list[BlockView]:
        out = []
        for node in children:
            if node.get("kind") != "group":
                out.append(BlockView(kind="item", code=node["code"], item=item_view(node)))
                continue
            label = localise(node["label"], language, default)
            if "table-list" in node["appearance"].split():
                rows = [item_view(child) for child in node["children"]]
                out.append(
                    BlockView(
                        kind="grid",
                        code=node["code"],
                        label=label,
                        relevant=node["relevant"],
                        rows=rows,
                        scale=rows[0].choices if rows else [],
                        multiple=bool(rows) and rows[0].type == "select_multiple",
                    )
                )
            else:
                out.append(
                    BlockView(
                        kind="section",
                        code=node["code"],
                        label=label,
                        relevant=node["relevant"],
                        blocks=blocks(node["children"]),
                    )
                )
        return out

    return [
        PageView(
            number=number,
            code=page["code"],
            label=localise(page["label"], language, default),
            relevant=page["relevant"],
            blocks=blocks(page["children"]),
        )
        for number, page in enumerate(definition["groups"], start=1)
    ]


def raw_answers_from_form(data: Any, item_types: dict[str, str], codes: list[str]) -> dict[str, object]:
    """Read the submitted values of `codes` from a QueryDict (multiple choice as lists)."""
    raw: dict[str, object] = {}
    for code in codes:
        if item_types[code] == "select_multiple":
            values = data.getlist(code)
            if values:
                raw[code] = values
        elif data.get(code, "") != "":
            raw[code] = data.get(code)
    return raw
