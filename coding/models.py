"""Free-text coding: codebooks (per item), human codes, automatic suggestions and coding runs.

Two kinds of tables live here:

- Codebook and Category describe a questionnaire item, like surveys' rows; they are about neither side.
- HumanCoding, AnswerCode and ReviewItem are about answers, so they are **anonymous-side** tables
  (docs/anonymity.md): random UUID keys, no foreign key to the identity side, no date or time column,
  and a human coder is recorded only as a pseudonymous label (an HMAC of the user id under a setting-held
  key), never as a user id or e-mail address. tests/coding/test_anonymity.py holds them to that.

CodingRun is a job row about an item, not about an officer, so it may carry start and finish times.
"""

import uuid

from django.db import models


class Codebook(models.Model):
    """The coding frame of one free-text item in one edition."""

    edition = models.ForeignKey("surveys.Edition", on_delete=models.CASCADE, related_name="codebooks")
    item_code = models.CharField(max_length=64)
    # The item's codebook came from a reference frame or an earlier edition (informational).
    source = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["edition_id", "item_code"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "item_code"], name="codebook_one_per_item"),
        ]

    def __str__(self) -> str:
        return f"{self.edition_id}/{self.item_code}"


class Category(models.Model):
    """One code of a codebook. A category that has codes is retired, never deleted, so history stays."""

    codebook = models.ForeignKey(Codebook, on_delete=models.CASCADE, related_name="categories")
    code = models.SlugField(max_length=64)
    label = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    examples = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)
    retired = models.BooleanField(default=False)
    # Set by the latest trained run: cross-validated alpha below 0.667, so automatic codes are not used.
    human_only = models.BooleanField(default=False)

    class Meta:
        ordering = ["position", "code"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["codebook", "code"], name="category_code_unique_in_codebook"),
        ]

    def __str__(self) -> str:
        return self.code


class CodeSource(models.TextChoices):
    HUMAN = "human", "Human"
    AUTO = "auto", "Automatic (trained model)"
    SUGGESTION = "suggestion", "Suggestion (zero-shot, never counted)"


class HumanCoding(models.Model):
    """A coder has coded this answer (possibly with no category at all). Anonymous side."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    answer = models.ForeignKey("responses.Answer", on_delete=models.CASCADE, related_name="+")
    # Pseudonymous coder label: an HMAC of the user id (see coding.services.coder_label). "adjudicated"
    # marks the agreed codes after a disagreement.
    coder = models.CharField(max_length=32)
    # The categories the coder was offered at the last save (the active ones, plus the retired ones given
    # before, shown ticked): a category not among them is unknown for this coding, not "absent"
    # (coding/finals.py).
    categories_seen = models.ManyToManyField("Category", through="CategorySeen", related_name="+", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["answer", "coder"], name="human_coding_once_per_coder"),
        ]

    def __str__(self) -> str:
        return f"{self.answer_id} by {self.coder}"


class CategorySeen(models.Model):
    """A category a human coding was offered (HumanCoding.categories_seen). Anonymous side: the two keys
    and a random one (no serial number to order saves by), no time, no user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    coding = models.ForeignKey(HumanCoding, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey("Category", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["coding", "category"], name="category_seen_once_per_coding"),
        ]

    def __str__(self) -> str:
        return f"{self.coding_id} saw {self.category_id}"


class AnswerCode(models.Model):
    """One category on one answer: a human code, an automatic code or a zero-shot suggestion.

    Anonymous side: UUID key, no time, no user. Automatic rows carry the run (classifier and version are
    on the run and repeated here so a row explains itself) and the model's probability; `accepted` marks
    those at or above the category's tuned threshold."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    answer = models.ForeignKey("responses.Answer", on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="answer_codes")
    source = models.CharField(max_length=16, choices=CodeSource.choices)
    coder = models.CharField(max_length=32, blank=True)
    run = models.ForeignKey("CodingRun", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    classifier = models.CharField(max_length=64, blank=True)
    classifier_version = models.CharField(max_length=32, blank=True)
    probability = models.FloatField(null=True, blank=True)
    accepted = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["category", "source"]), models.Index(fields=["answer", "source"])]
        constraints = [
            models.UniqueConstraint(
                fields=["answer", "category", "source", "coder"], name="answer_code_once_per_source_coder"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.answer_id}: {self.category_id} ({self.source})"


class ReviewItem(models.Model):
    """An answer the model is unsure of, in the review queue; higher priority teaches the model more."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    answer = models.OneToOneField("responses.Answer", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey("CodingRun", on_delete=models.CASCADE, related_name="+")
    priority = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["run", "-priority"])]

    def __str__(self) -> str:
        return f"{self.answer_id} ({self.priority:.3f})"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RunKind(models.TextChoices):
    ZERO_SHOT = "zero_shot", "Zero-shot suggestions (no human codes yet)"
    TRAINED = "trained", "Model trained on human codes"


class CodingRun(models.Model):
    """One auto-coding job for one item: a status row claimed with a conditional UPDATE."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    edition = models.ForeignKey("surveys.Edition", on_delete=models.CASCADE, related_name="coding_runs")
    item_code = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    kind = models.CharField(max_length=16, choices=RunKind.choices, blank=True)
    classifier = models.CharField(max_length=64)
    classifier_version = models.CharField(max_length=32, blank=True)
    seed = models.PositiveIntegerField(default=20170523)
    versions = models.JSONField(default=dict, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Claims: each attempt counts itself and reports while it works; one that stops reporting for
    # CODING_STALE_SECONDS is dead, and only the latest attempt may write results.
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The categories a trained run coded (the codebook's active ones when it ran): its automatic codes
    # say nothing about any other category, which is unknown for the answers it coded (coding/finals.py).
    categories = models.ManyToManyField(Category, related_name="+", blank=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["edition", "item_code", "status"])]

    def __str__(self) -> str:
        return f"{self.edition_id}/{self.item_code} {self.classifier} ({self.status})"


class AutoCoding(models.Model):
    """A trained model's run coded this answer (possibly with no category). Anonymous side."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    answer = models.OneToOneField("responses.Answer", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(CodingRun, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.answer_id} by run {self.run_id}"


class AutoFill(models.Model):
    """A trained run decided this category for a human-coded answer whose deciding coders were not
    offered it (added after they coded it, or retired before): a gap the human codes cannot speak for.
    Its automatic code, if accepted, is the answer's final code for that category until a person codes
    the answer with the category on offer (coding/finals.py). Anonymous side: random key, no time."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    answer = models.ForeignKey("responses.Answer", on_delete=models.CASCADE, related_name="+", db_index=False)
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+", db_index=False)
    run = models.ForeignKey(CodingRun, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["answer", "category"], name="auto_fill_once_per_category"),
        ]

    def __str__(self) -> str:
        return f"{self.answer_id}: {self.category_id} by run {self.run_id}"


class _KeptFinal(models.Model):
    """What every table of kept final codes carries besides the answer: copies of the answer's item and
    response, so counts read one index (and filters join by response), and the codes' source. Copied from
    the answer row itself, so no database check (a deferred check per row at commit doubled the time of
    an item's refresh)."""

    item = models.ForeignKey(
        "surveys.Item", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    response = models.ForeignKey(
        "responses.Response", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    source = models.CharField(max_length=8)

    class Meta:
        abstract = True


class FinalCoding(_KeptFinal):
    """An answer that has final codes, and whether they are people's or a trained model's: kept by
    coding/finals.py::final_codes_refresh from the codes, never written otherwise. Anonymous side."""

    answer = models.OneToOneField(
        "responses.Answer", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["item", "source"], include=["response"], name="final_coding_item")]

    def __str__(self) -> str:
        return f"{self.answer_id} ({self.source})"


class _KeptFinalCategory(_KeptFinal):
    """One category of an answer in the kept final codes. Anonymous side: random key, no time."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # (answer, category) is unique, and that index serves lookups by answer.
    answer = models.ForeignKey("responses.Answer", on_delete=models.CASCADE, related_name="+", db_index=False)
    # Only an unused category is ever deleted (coding.services.category_remove): no index for that.
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        abstract = True


class FinalCode(_KeptFinalCategory):
    """One final category of an answer (coding/finals.py)."""

    class Meta:
        indexes = [
            # The random key orders a category's answers for the example quotes: a top-N is an index scan.
            models.Index(
                fields=["item", "category", "id"], include=["response", "answer"], name="final_code_item"
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["answer", "category"], name="final_code_once_per_category"),
        ]

    def __str__(self) -> str:
        return f"{self.answer_id}: {self.category_id}"


class FinalUnknown(_KeptFinalCategory):
    """A category the final codes of an answer say nothing about: its deciding coder was not offered it,
    or the run that coded it did not cover it (coding/finals.py). Neither present nor absent, so left out
    of the category's base, exports and training. No row until a category is added or retired."""

    class Meta:
        indexes = [
            models.Index(
                fields=["item", "category"], include=["response", "answer"], name="final_unknown_item"
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["answer", "category"], name="final_unknown_once_per_category"),
        ]

    def __str__(self) -> str:
        return f"{self.answer_id}: {self.category_id} unknown"


class FinalFilled(_KeptFinalCategory):
    """A category a human-coded answer's human codes say nothing about, decided instead by a trained
    run's automatic code (AutoFill; coding/finals.py): its FinalCode row, if any, has source "auto", and
    the answer's figures are "mixed". Still a gap for training and coder agreement (never a human label)."""

    class Meta:
        indexes = [
            models.Index(
                fields=["item", "category"], include=["response", "answer"], name="final_filled_item"
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["answer", "category"], name="final_filled_once_per_category"),
        ]

    def __str__(self) -> str:
        return f"{self.answer_id}: {self.category_id} filled"


class AnswerEmbedding(models.Model):
    """An answer's sentence vector under one embedding model (coding/embeddings.py): computed once, then
    read by every run, retraining and prediction. Anonymous side: derived from the answer's text, keyed by
    answer and model, no time, no user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    answer = models.ForeignKey("responses.Answer", on_delete=models.CASCADE, related_name="+")
    # The embedder's key: model, package version and truncation, so a changed model never reuses vectors.
    model = models.CharField(max_length=128)
    # float32, little-endian (384 values for MiniLM: 1,536 bytes).
    vector = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["answer", "model"], name="answer_embedding_once_per_model"),
        ]

    def __str__(self) -> str:
        return f"{self.answer_id} ({self.model})"
