"""Coding's answer-level tables obey the anonymous side's rules (docs/anonymity.md, invariants 1 and 2)."""

from django.apps import apps
from django.db import connection, models

from coding.services import coder_label
from tests.responses.test_anonymity import IDENTITY_APPS

# Tables about answers (anonymous side). Codebook and Category describe items; CodingRun is a job row
# about an item and may hold its start and finish times (it names no answer and no officer).
ANSWER_LEVEL = {
    "humancoding",
    "answercode",
    "reviewitem",
    "autocoding",
    "answerembedding",
    "finalcoding",
    "finalcode",
    "finalunknown",
    "finalfilled",
    "autofill",
    "categoryseen",
}


def test_answer_level_tables_have_uuid_keys_no_identity_link_and_no_time(db):
    found = set()
    for model in apps.get_app_config("coding").get_models():
        name = model._meta.model_name
        relations = [f for f in model._meta.get_fields() if f.is_relation and f.concrete]
        for field in relations:
            assert field.related_model._meta.app_label not in IDENTITY_APPS, (model, field.name)
        if name not in ANSWER_LEVEL:
            assert not any(f.related_model._meta.app_label == "responses" for f in relations), model
            continue
        found.add(name)
        # A random UUID, or the answer's own (random) key for a table with one row per answer.
        pk = model._meta.pk
        assert isinstance(pk, models.UUIDField) or pk.related_model._meta.label == "responses.Answer", model
        for field in model._meta.get_fields():
            assert not isinstance(field, models.DateField | models.DateTimeField | models.TimeField), field
            assert field.name not in {
                "user",
                "session",
                "ip",
                "ip_address",
                "user_agent",
                "created",
                "updated",
            }
    assert found == ANSWER_LEVEL


def test_no_database_foreign_key_from_coding_to_the_identity_side(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text "
            "FROM pg_constraint WHERE contype = 'f'"
        )
        pairs = cursor.fetchall()
    identity = ("accounts_", "auth_", "django_session", "account_", "mfa_", "socialaccount_", "knox_")
    assert not [(s, t) for s, t in pairs if s.startswith("coding_") and t.startswith(identity)]


def test_a_coder_is_a_pseudonym_not_the_user(analyst_ann, settings):
    label = coder_label(user_id=analyst_ann.pk)
    assert str(analyst_ann.pk) != label and analyst_ann.email not in label
    assert len(label) == 16
    assert coder_label(user_id=analyst_ann.pk) == label  # stable
    settings.CODING_CODER_KEY = "another-key"
    assert coder_label(user_id=analyst_ann.pk) != label
