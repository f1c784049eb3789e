"""The anonymity invariants (docs/anonymity.md), proven on the real PostgreSQL.

A response row that could identify an officer is a release-blocking bug: these tests are the gate."""

import hashlib
import logging
import subprocess
import uuid
from datetime import timedelta

import pytest
import redis
from django.apps import apps
from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from accounts.models import Participation, ParticipationStatus
from responses import services
from responses.models import Answer, Response, StagedSubmission
from surveys import services as survey_services
from tests.conftest import import_reference
from tests.responses.conftest import BASE_ANSWERS

ANONYMOUS_APP = "responses"
IDENTITY_APPS = {"accounts", "auth", "sessions", "account", "mfa", "socialaccount", "knox", "admin"}


def spearman(xs: list[float], ys: list[float]) -> float:
    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=values.__getitem__)
        out = [0.0] * len(values)
        for rank, index in enumerate(order):
            out[index] = float(rank)
        return out

    rx, ry = ranks(xs), ranks(ys)
    n = len(xs)
    mean = (n - 1) / 2
    cov = sum((a - mean) * (b - mean) for a, b in zip(rx, ry, strict=True))
    var = sum((a - mean) ** 2 for a in rx)
    return cov / var


def pg_dump(*args: str) -> str:
    db = connection.settings_dict
    command = ["pg_dump", "--data-only", "-h", db["HOST"] or "127.0.0.1", "-U", db["USER"] or "postgres"]
    return subprocess.run([*command, *args, db["NAME"]], check=True, capture_output=True, text=True).stdout


def copy_rows(dump: str, table: str) -> list[list[str]]:
    lines = dump.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"COPY public.{table} "))
    rows = []
    for line in lines[start + 1 :]:
        if line == "\\.":
            break
        rows.append(line.split("\t"))
    return rows


@pytest.fixture
def released_edition(series, officers, worker_keys, rng):
    """45 officers answer in a random order; answer `children_rescued` records the submission order."""
    edition = survey_services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(days=1)
    )
    people = officers(45)
    rng.shuffle(people)
    for order, officer in enumerate(people):
        answers = {**BASE_ANSWERS, "children_rescued": order, "country": rng.choice(["SE", "GB", "US", "NO"])}
        services.response_submit(edition=edition, officer=officer, answers=answers)
    survey_services.edition_close(edition=edition)
    assert services.pool_release(edition_id=edition.pk) == 45
    return edition


def submission_order_by_response(edition) -> dict[str, int]:
    rows = Answer.objects.filter(item__code="children_rescued", response__edition=edition)
    return {str(row.response_id): int(row.number) for row in rows}


@pytest.mark.django_db(transaction=True)
def test_physical_order_says_nothing_about_the_order_of_submission(released_edition):
    order_of = submission_order_by_response(released_edition)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id::text FROM responses_response ORDER BY ctid")
        by_ctid = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT response_id::text FROM responses_answer WHERE item_id = "
            "(SELECT id FROM surveys_item WHERE code = 'children_rescued' AND edition_id = %s) ORDER BY ctid",
            [released_edition.pk],
        )
        answers_by_ctid = [row[0] for row in cursor.fetchall()]
    dumped = [row[0] for row in copy_rows(pg_dump("-t", "responses_response"), "responses_response")]
    for physical in (by_ctid, answers_by_ctid, dumped):
        assert len(physical) == 45
        rho = spearman(list(range(45)), [order_of[rid] for rid in physical])
        # Under a fair shuffle |rho| >= 0.6 has probability below 1e-4 for n = 45.
        assert abs(rho) < 0.6, rho


@pytest.mark.django_db(transaction=True)
def test_every_released_row_shares_one_transaction_id(released_edition):
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT xmin::text FROM responses_response")
        response_xmins = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT DISTINCT xmin::text FROM responses_answer")
        answer_xmins = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT DISTINCT xmin::text FROM responses_receiptdigest")
        receipt_xmins = {row[0] for row in cursor.fetchall()}
    assert len(response_xmins) == 1
    assert answer_xmins == response_xmins == receipt_xmins


def test_no_anonymous_table_references_the_identity_side_or_holds_a_time(db):
    for model in apps.get_app_config(ANONYMOUS_APP).get_models():
        pk = model._meta.pk
        # Random ids, a digest of a random value, or the edition (one ballot key each): no sequence.
        assert isinstance(pk, models.UUIDField) or model._meta.model_name in {
            "receiptdigest",
            "spentballot",
            "ballotkey",
        }, model
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete:
                assert field.related_model._meta.app_label not in IDENTITY_APPS, (model, field.name)
            assert not isinstance(field, models.DateField | models.DateTimeField | models.TimeField), (
                model,
                field,
            )
            assert field.name not in {
                "user",
                "session",
                "ip",
                "ip_address",
                "user_agent",
                "created",
                "updated",
            }


def test_no_identity_table_references_the_anonymous_side(db):
    for model in apps.get_models():
        if model._meta.app_label not in IDENTITY_APPS:
            continue
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete:
                assert field.related_model._meta.app_label != ANONYMOUS_APP, (model, field.name)


def test_the_database_has_no_foreign_key_between_the_sides(released_edition):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'
            """
        )
        pairs = cursor.fetchall()
    identity_prefixes = (
        "accounts_",
        "auth_",
        "django_session",
        "account_",
        "mfa_",
        "socialaccount_",
        "knox_",
    )
    for source, target in pairs:
        # Coding and exports read answers; like the answers, their rows must not point at people.
        if source.startswith(("responses_", "coding_")):
            assert not target.startswith(identity_prefixes), (source, target)
        if source.startswith(identity_prefixes):
            assert not target.startswith(("responses_", "coding_")), (source, target)


@pytest.mark.django_db(transaction=True)
def test_a_canary_answer_appears_only_in_the_answer_table(series, officers, worker_keys, caplog, client):
    canary = f"CANARY-{uuid.uuid4().hex}"
    edition = survey_services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(days=1)
    )
    known, *others = officers(3)
    client.force_login(known)
    caplog.set_level(logging.DEBUG)
    # Submit through the portal, so sessions, middleware and templates are part of the test.
    page = client.post(
        f"/portal/{edition.pk}/",
        {**BASE_ANSWERS, "trends": canary, "_action": "submit", "_page": "7"},
    )
    assert page.status_code == 200 and b"your answers are in" in page.content
    for officer in others:
        services.response_submit(edition=edition, officer=officer, answers=BASE_ANSWERS)

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    survey_services.edition_close(edition=edition)  # queues the release job in Redis
    queued = b"".join(broker.lrange("celery", 0, -1))
    assert queued, "the close should have queued a release message"
    assert canary.encode() not in queued
    assert known.email.encode() not in queued

    assert canary.encode() not in b"".join(bytes(s.sealed) for s in StagedSubmission.objects.all())
    assert canary not in pg_dump()  # every table while staged: only ciphertext
    services.pool_release(edition_id=edition.pk)
    broker.delete("celery")

    dump = pg_dump()
    tables = [m._meta.db_table for m in apps.get_models()]
    holders = {t for t in tables if canary in "\n".join("\t".join(row) for row in copy_rows(dump, t))}
    assert holders == {"responses_answer"}
    assert canary not in caplog.text
    cache = redis.Redis.from_url(settings.REDIS_URL)
    for key in cache.scan_iter():
        kind = cache.type(key)
        if kind == b"string":
            assert canary.encode() not in (cache.get(key) or b"")
        elif kind == b"list":
            assert canary.encode() not in b"".join(cache.lrange(key, 0, -1))


def test_staged_rows_cannot_be_read_with_anything_the_web_process_holds(
    open_2017, officer_alice, worker_keys
):
    services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    sealed = bytes(StagedSubmission.objects.get().sealed)
    # The web's material: its settings' secrets and every value in the database (public keys included).
    candidates = [settings.SECRET_KEY.encode()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT public_key FROM responses_poolkey")
        candidates += [bytes(row[0]) for row in cursor.fetchall()]
    attempts = 0
    for material in candidates:
        for key_bytes in (material[:32].ljust(32, b"\0"), hashlib.sha256(material).digest()):
            attempts += 1
            with pytest.raises(CryptoError):
                SealedBox(PrivateKey(key_bytes)).decrypt(sealed)
    assert attempts >= 4
    # And the private key is nowhere in the database (bytea is dumped as hex).
    private = (worker_keys / f"{StagedSubmission.objects.get().key_id}.key").read_bytes()
    assert private.hex() not in pg_dump()


def test_participation_stores_a_status_and_no_time(db):
    fields = Participation._meta.get_fields()
    assert not any(isinstance(f, models.DateField | models.DateTimeField) for f in fields)
    assert {c.value for c in ParticipationStatus} == {"invited", "ballot_issued", "submitted"}


def test_submitting_does_not_touch_last_login(open_2017, officer_alice, worker_keys):
    before = type(officer_alice).objects.get(pk=officer_alice.pk).last_login
    services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert type(officer_alice).objects.get(pk=officer_alice.pk).last_login == before


def test_responses_carry_no_identity_columns(db):
    names = {f.column for f in Response._meta.concrete_fields} | {
        f.column for f in Answer._meta.concrete_fields
    }
    assert names == {"id", "edition_id", "response_id", "item_id", "choice", "number", "text"}
