"""Series, editions and their questionnaires.

A draft edition's questionnaire lives in the Group / Item / ChoiceList rows and can be replaced. Opening
the edition freezes it: the normalised definition is stored in `Edition.frozen_definition` and every
service that edits a questionnaire refuses a non-draft edition, so answers can never end up attached to
items that changed under them. The rules live in surveys/services.py; these classes only hold data.
"""

from typing import Any

from django.db import models
from django.utils import timezone


class Series(models.Model):
    """A survey run year after year (e.g. the annual law-enforcement survey)."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return self.title


class EditionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    ARCHIVED = "archived", "Archived"


class Edition(models.Model):
    """One year's questionnaire of a series, with its answer window."""

    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="editions")
    label = models.CharField(max_length=32, help_text="e.g. 2017; unique within the series")
    title = models.JSONField(default=dict, help_text="language code → title")
    form_id = models.CharField(max_length=64, blank=True)
    version = models.CharField(max_length=64, blank=True)
    default_language = models.CharField(max_length=16, default="en")
    languages = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=EditionStatus.choices, default=EditionStatus.DRAFT)
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    # The definition as published when the edition opened; null while a draft.
    frozen_definition = models.JSONField(null=True, blank=True, editable=False)
    definition_sha256 = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["series__slug", "label"]
        constraints = [
            models.UniqueConstraint(fields=["series", "label"], name="edition_label_unique_in_series"),
            models.CheckConstraint(
                condition=models.Q(closes_at__isnull=True)
                | models.Q(opens_at__isnull=True)
                | models.Q(closes_at__gt=models.F("opens_at")),
                name="edition_closes_after_opening",
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(frozen_definition__isnull=False),
                name="edition_frozen_unless_draft",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.series.slug} {self.label}"

    @property
    def display_title(self) -> str:
        title: dict[str, str] = self.title or {}
        return title.get(self.default_language) or next(iter(title.values()), f"{self.series} {self.label}")

    @property
    def is_draft(self) -> bool:
        return self.status == EditionStatus.DRAFT

    def is_accepting_answers(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return (
            self.status == EditionStatus.OPEN
            and self.opens_at is not None
            and self.closes_at is not None
            and self.opens_at <= now < self.closes_at
        )


class ChoiceList(models.Model):
    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="choice_lists")
    name = models.CharField(max_length=64)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["edition", "name"], name="choice_list_name_unique")]

    def __str__(self) -> str:
        return self.name


class Choice(models.Model):
    choice_list = models.ForeignKey(ChoiceList, on_delete=models.CASCADE, related_name="choices")
    code = models.CharField(max_length=64)
    label = models.JSONField(default=dict)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["choice_list", "code"], name="choice_code_unique")]

    def __str__(self) -> str:
        return self.code


class Group(models.Model):
    """A page (top level) or a nested group; a nested group with appearance table-list is a grid."""

    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="groups")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="subgroups"
    )
    code = models.CharField(max_length=64)
    label = models.JSONField(default=dict)
    relevant = models.TextField(blank=True)
    appearance = models.CharField(max_length=64, blank=True)
    # Document order, shared with items, so a page's children can be interleaved.
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["edition", "code"], name="group_code_unique")]

    def __str__(self) -> str:
        return self.code

    @property
    def is_grid(self) -> bool:
        return self.parent_id is not None and "table-list" in self.appearance.split()


class ItemType(models.TextChoices):
    TEXT = "text", "Short text"
    LONG_TEXT = "long_text", "Long text"
    SELECT_ONE = "select_one", "Single choice"
    SELECT_MULTIPLE = "select_multiple", "Multiple choice"
    YES_NO = "yes_no", "Yes / no"
    COUNTRY = "country", "Country"
    INTEGER = "integer", "Integer"
    DECIMAL = "decimal", "Decimal"
    NOTE = "note", "Note"


class Item(models.Model):
    """One question. The code is stable across the editions of a series (the basis of comparison)."""

    edition = models.ForeignKey(Edition, on_delete=models.CASCADE, related_name="items")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="items")
    code = models.CharField(max_length=64)
    type = models.CharField(max_length=16, choices=ItemType.choices)
    label = models.JSONField(default=dict)
    hint = models.JSONField(default=dict, blank=True)
    required = models.BooleanField(default=False)
    required_message = models.JSONField(default=dict, blank=True)
    relevant = models.TextField(blank=True)
    constraint = models.TextField(blank=True)
    constraint_message = models.JSONField(default=dict, blank=True)
    appearance = models.CharField(max_length=64, blank=True)
    choice_list = models.ForeignKey(
        ChoiceList, null=True, blank=True, on_delete=models.PROTECT, related_name="items"
    )
    min_value = models.DecimalField(max_digits=40, decimal_places=10, null=True, blank=True)
    max_value = models.DecimalField(max_digits=40, decimal_places=10, null=True, blank=True)
    quasi_identifier = models.BooleanField(
        default=False, help_text="could help re-identify an officer; generalised in results and exports"
    )
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["edition", "code"], name="item_code_unique")]

    def __str__(self) -> str:
        return self.code

    def clean_answer(self, raw: object) -> object:
        """The one normalisation point for this item's answer: a typed value, or ValidationError.

        It delegates to the edition's compiled questionnaire so the portal, the API and imports share
        exactly one implementation (surveys/questionnaire.py)."""
        from surveys.selectors import edition_questionnaire

        return edition_questionnaire(self.edition).items[self.code].clean_answer(raw)
