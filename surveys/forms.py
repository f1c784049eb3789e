from django import forms
from django.core.validators import RegexValidator

from surveys.models import Series

slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Lower-case letters, digits and hyphens only.")


class ImportForm(forms.Form):
    series = forms.ModelChoiceField(
        queryset=Series.objects.all(), required=False, empty_label="— a new series —", to_field_name="slug"
    )
    new_series_slug = forms.CharField(
        max_length=64,
        required=False,
        validators=[slug_validator],
        label="New series (slug)",
        help_text="e.g. law-enforcement-survey",
    )
    new_series_title = forms.CharField(max_length=200, required=False, label="New series title")
    label = forms.CharField(max_length=32, help_text="e.g. 2018")
    file = forms.FileField(help_text="XLSForm (.xlsx) or a questionnaire definition (.json)")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not data.get("series") and not data.get("new_series_slug"):
            raise forms.ValidationError("Choose a series or name a new one.")
        return data


class ReplaceForm(forms.Form):
    file = forms.FileField(help_text="XLSForm (.xlsx) or a questionnaire definition (.json)")


class OpenForm(forms.Form):
    opens_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty to open now. Times are UTC.",
    )
    closes_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), help_text="UTC"
    )
