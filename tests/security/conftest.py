"""An edition whose every free-text answer is an attack, and helpers shared by the security tests."""

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from coding import services as coding_services
from responses.models import Answer
from responses.services import responses_write_released
from surveys.questionnaire import Questionnaire
from surveys.selectors import edition_questionnaire

# What an attacker would type into a free-text box; each must come back as text, never as markup.
XSS_PAYLOADS = [
    "<script>window.__xss=1</script>",
    '"><img src=x onerror=window.__xss=1>',
    "'><svg onload=window.__xss=1>",
    "javascript:window.__xss=1",
    "</textarea><script>window.__xss=1</script><textarea>",
    "{{ 7|add:7 }} {% now 'Y' %}",  # template syntax stays text too
]
# The answers that make every free-text item of the 2017 edition relevant (skip logic).
ALL_ASKED = {
    "country": "SE",
    "agency_type": "national",
    "workload_change": "increased",
    "better_equipped": "yes",
    "better_equipped_reasons": ["other"],
    "offender_changed": "yes",
}
RESPONDENTS = 24
CODED_ITEM = "workload_reasons"  # above the results' disclosure threshold (10), so every figure is shown


def text_items(questionnaire: Questionnaire) -> list[str]:
    return [item.code for item in questionnaire if item.type in ("text", "long_text")]


def url_patterns(patterns=None, prefix="", namespace=""):
    """(name, route, pattern) for every URL pattern of the project (name is namespace:name or the route)."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            ns = ":".join(part for part in (namespace, p.namespace or "") if part)
            yield from url_patterns(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = ":".join(part for part in (namespace, p.name) if part) if p.name else ""
            yield name or prefix + str(p.pattern), prefix + str(p.pattern), p


@pytest.fixture
def hostile_2017(open_2017):
    """The open 2017 edition with released responses whose free-text answers are XSS payloads (every
    payload in every free-text item), and coding frames whose first category is labelled with one."""
    codes = text_items(edition_questionnaire(open_2017))
    payloads = [
        {
            "answers": {
                **ALL_ASKED,
                **{code: XSS_PAYLOADS[(n + i) % len(XSS_PAYLOADS)] for i, code in enumerate(codes)},
            }
        }
        for n in range(RESPONDENTS)
    ]
    with transaction.atomic():
        responses_write_released(edition_id=open_2017.pk, payloads=payloads)
    for codebook in coding_services.codebooks_import_reference(edition=open_2017):
        first = codebook.categories.order_by("position", "code").first()
        coding_services.category_update(
            category=first, label=XSS_PAYLOADS[1], description=XSS_PAYLOADS[0], examples=[XSS_PAYLOADS[3]]
        )
        if codebook.item_code == CODED_ITEM:  # human codes, so that results show the category's label
            for answer in Answer.objects.filter(response__edition=open_2017, item__code=CODED_ITEM):
                coding_services.answer_codes_set(answer_id=answer.pk, codes=[first.code], coder="A")
    return open_2017


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR
