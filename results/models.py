"""Results' own rows. HiddenQuote is about an answer, so it is an **anonymous-side** table
(docs/anonymity.md): random UUID key, no foreign key to the identity side, no date or time column, and
nothing about who hid it (tests/results/test_quotes.py holds it to that)."""

import uuid

from django.db import models


class HiddenQuote(models.Model):
    """An analyst chose not to show this answer as an example quote on results pages and in the report."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    answer = models.OneToOneField("responses.Answer", on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.answer_id} hidden"


class FilterTally(models.Model):
    """Respondents per pair of answers, for the filters the results pages offer (results/tallies.py):
    among the respondents who chose `filter_choice` for `filter_item` (a quasi-identifier with one
    answer per respondent), how many chose `choice` for `item`, or (`choice` NULL) answered `item` at
    all. Counted when the edition had `released` released responses, so valid while it has that many
    (a release only adds responses). Aggregates only, never shown as they are: results apply disclosure
    control after. Anonymous side, as HiddenQuote: random UUID key, no date or time column."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    edition = models.ForeignKey("surveys.Edition", on_delete=models.CASCADE, related_name="+")
    released = models.PositiveIntegerField()
    filter_item = models.ForeignKey("surveys.Item", on_delete=models.CASCADE, related_name="+")
    filter_choice = models.CharField(max_length=64)
    item = models.ForeignKey("surveys.Item", on_delete=models.CASCADE, related_name="+")
    choice = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL: answered at all
    respondents = models.PositiveIntegerField()
    # A number item's statistics among them (`choice` NULL; PostgreSQL): sum, extremes, quartiles and
    # the counts of its default histogram bins, as results/selectors.py::_number_result reads them.
    summary = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["edition", "filter_item", "filter_choice"],
                include=["released", "item", "choice", "respondents"],
                name="filter_tally_lookup",
            )
        ]

    def __str__(self) -> str:
        return f"{self.filter_item_id}={self.filter_choice}: {self.item_id}={self.choice} {self.respondents}"


class CodedTally(models.Model):
    """Final codes (coding/finals.py) per pair, for the same filters as FilterTally: among the
    respondents who chose `filter_choice` for `filter_item`, how many have the final code `category` for
    the free-text `item`, or (`category` empty) whose answer's final codes come from `source`, or (`source`
    "unknown") whose answer's final codes say nothing about `category` (coding/finals.py). Counted
    at `released` responses and coding generation `generation` (results/cache.py: every write of codes
    replaces it), so valid while both hold. Anonymous side, as FilterTally."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    edition = models.ForeignKey("surveys.Edition", on_delete=models.CASCADE, related_name="+")
    released = models.PositiveIntegerField()
    generation = models.CharField(max_length=64)
    filter_item = models.ForeignKey("surveys.Item", on_delete=models.CASCADE, related_name="+")
    filter_choice = models.CharField(max_length=64)
    item = models.ForeignKey("surveys.Item", on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, blank=True)
    respondents = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(
                fields=["edition", "filter_item", "filter_choice"],
                include=["released", "generation", "item", "category", "source", "respondents"],
                name="coded_tally_lookup",
            )
        ]

    def __str__(self) -> str:
        return f"{self.filter_item_id}={self.filter_choice}: {self.item_id} {self.category or self.source}"
