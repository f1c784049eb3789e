from typing import Any

from django import forms

from exports.anonymise.kanon import MIN_K
from exports.exporters import EXPORTERS
from exports.models import FreeText
from surveys.models import Edition, EditionStatus


class ExportRequestForm(forms.Form):
    editions = forms.ModelMultipleChoiceField(
        queryset=Edition.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="One edition, or several editions of one series (aligned by item code).",
    )
    format = forms.ChoiceField(choices=[(k, e.verbose_name) for k, e in EXPORTERS.items() if e.public])
    k = forms.IntegerField(
        min_value=MIN_K,
        initial=5,
        label="k",
        help_text="Every combination of quasi-identifiers holds at least k respondents.",
    )
    free_text = forms.ChoiceField(choices=FreeText.choices, initial=FreeText.SEPARATE, label="Free text")
    language = forms.CharField(max_length=16, initial="en", help_text="Language of labels, e.g. en.")
    review = forms.BooleanField(
        required=False,
        initial=True,
        label="Review the free text before the file is built",
        help_text="You read every redacted answer and approve it; automatic redaction misses some personal "
        "data. Earlier reviewers' decisions apply either way.",
    )
    stable_ids = forms.BooleanField(
        required=False,
        label="Same row ids in every file of the bundle",
        help_text="Off: every file has its own order and ids, so files cannot be joined.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["editions"].queryset = (  # type: ignore[attr-defined]
            Edition.objects.exclude(status=EditionStatus.DRAFT)
            .select_related("series")
            .order_by("series__slug", "label")
        )
