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
