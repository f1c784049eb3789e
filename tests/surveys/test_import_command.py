"""`manage.py import_questionnaire`: a draft from a file, or an error and nothing saved."""

import pytest
from django.core.management import CommandError, call_command

from surveys.models import Edition, EditionStatus, Series
from surveys.reference import REFERENCE_DIR

REFERENCE_2017 = str(REFERENCE_DIR / "netclean-2017.xlsx")


def test_the_command_imports_a_draft_into_a_new_series(db, capsys):
    call_command("import_questionnaire", REFERENCE_2017, "--series", "le-survey", "--edition", "2017")
    edition = Edition.objects.get(series__slug="le-survey", label="2017")
    assert edition.status == EditionStatus.DRAFT
    assert f"(id {edition.pk})" in capsys.readouterr().out


def test_a_refused_import_leaves_no_new_series_behind(db):
    with pytest.raises(CommandError, match="was not imported"):
        call_command("import_questionnaire", REFERENCE_2017, "--series", "le-survey", "--edition", "x" * 40)
    assert not Series.objects.exists()
    assert not Edition.objects.exists()
