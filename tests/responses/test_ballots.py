"""Blind-signed ballots (issue #8, docs/anonymity.md level 2), through the API and the Python client."""

import base64
import hashlib
from datetime import timedelta

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Participation, ParticipationStatus
from accounts.services import api_token_create
from api.ballot_client import Ballot, BallotClient, BallotError
from responses import ballots, blindrsa, services
from responses.models import BallotKey, ReceiptDigest, Response, SpentBallot, StagedSubmission
from surveys import services as survey_services
from tests.conftest import api_client_for, import_reference
from tests.responses.conftest import BASE_ANSWERS
from tests.responses.test_anonymity import pg_dump


@pytest.fixture
def open_2016(series):
    return survey_services.edition_open(
        edition=import_reference(series, "2016"), closes_at=timezone.now() + timedelta(days=30)
    )


class DjangoTestTransport(httpx.BaseTransport):
    """Lets the real client talk to the app in this test's transaction, through Django's test Client.

    A fresh Client per request: no cookie jar carries over, as with the real client. Every request and
    response is kept so tests can look at the headers that crossed."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}}
        reply = Client().generic(
            request.method,
            request.url.raw_path.decode(),
            data=request.read(),
            content_type=headers.pop("content-type", "application/octet-stream"),
            headers=headers,
        )
        response = httpx.Response(reply.status_code, headers=dict(reply.items()), content=reply.content)
        if "Set-Cookie" in reply.cookies.output() or reply.cookies:
            response.headers["set-cookie"] = reply.cookies.output(header="")
        self.exchanges.append((request, response))
        return response


@pytest.fixture
def transport():
    return DjangoTestTransport()


def client_for(user, transport) -> BallotClient:
    return BallotClient("http://testserver", api_token=api_token_create(user=user), transport=transport)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def anonymous_post(edition, token: bytes, signature: bytes, answers=None, **headers):
    return Client().post(
        f"/api/v1/editions/{edition.pk}/anonymous-responses/",
        {"token": b64(token), "signature": b64(signature), "answers": answers or BASE_ANSWERS},
        content_type="application/json",
        headers=headers,
    )


# --- the key --------------------------------------------------------------------------------------


def test_opening_an_edition_gives_it_a_published_key_and_closing_destroys_the_private_half(open_2017, client):
    key = BallotKey.objects.get(edition=open_2017)
    assert key.private_pem is not None and b"ENCRYPTED PRIVATE KEY" in bytes(key.private_pem)
    published = client.get(f"/api/v1/editions/{open_2017.pk}/ballot-key/").json()
    assert published["public_key"] == key.public_pem
    assert published["fingerprint"].startswith("sha256:") and len(published["fingerprint"]) == 71
    survey_services.edition_close(edition=open_2017)
    key.refresh_from_db()
    assert key.private_pem is None
    # Still published: the fingerprint stays checkable after the edition closes.
    assert client.get(f"/api/v1/editions/{open_2017.pk}/ballot-key/").json() == published


def test_a_draft_has_no_ballot_key(draft_2017, client):
    assert client.get(f"/api/v1/editions/{draft_2017.pk}/ballot-key/").status_code == 404
    assert not BallotKey.objects.exists()


def test_every_officer_gets_the_same_key(open_2017, officer_alice, officer_bob, transport):
    _, alice_sees = client_for(officer_alice, transport).ballot_key(open_2017.pk)
    _, bob_sees = client_for(officer_bob, transport).ballot_key(open_2017.pk)
    assert alice_sees == bob_sees == BallotKey.objects.get(edition=open_2017).fingerprint


def test_the_private_key_cannot_be_read_without_the_secret_key(open_2017, settings):
    ballots._private_keys.clear()
    settings.SECRET_KEY = "another-secret"
    with pytest.raises(ballots.BallotRefused):
        ballots._private_key(open_2017)


# --- issuing ----------------------------------------------------------------------------------------


def test_a_ballot_is_issued_once_and_a_second_request_gets_409(open_2017, officer_alice, transport):
    client = client_for(officer_alice, transport)
    ballot = client.ballot_obtain(open_2017.pk)
    public, _ = client.ballot_key(open_2017.pk)
    blindrsa.verify(public, ballot.token, ballot.signature)
    assert Participation.objects.get(user=officer_alice).status == ParticipationStatus.BALLOT_ISSUED
    with pytest.raises(BallotError) as refused:
        client.ballot_obtain(open_2017.pk)
    assert refused.value.status == 409


def test_only_vetted_officers_get_a_ballot(open_2017, pending_pete, analyst_ann):
    blinded = b64(b"\x01" * 256)
    for user in (pending_pete, analyst_ann):
        response = api_client_for(user).post(
            f"/api/v1/editions/{open_2017.pk}/ballots/", {"blinded_msg": blinded}, format="json"
        )
        assert response.status_code == 403
    anonymous = api_client_for(None).post(
        f"/api/v1/editions/{open_2017.pk}/ballots/", {"blinded_msg": blinded}, format="json"
    )
    assert anonymous.status_code in (401, 403)
    assert not Participation.objects.filter(status=ParticipationStatus.BALLOT_ISSUED).exists()


@pytest.mark.parametrize(
    "blinded_msg", ["not base64!", b64(b"\x01" * 255), b64(b"\xff" * 256), b64(b"\x01" * 2000)]
)
def test_a_malformed_or_oversized_blinded_message_is_refused_and_issues_nothing(
    open_2017, officer_alice, blinded_msg
):
    response = api_client_for(officer_alice).post(
        f"/api/v1/editions/{open_2017.pk}/ballots/", {"blinded_msg": blinded_msg}, format="json"
    )
    assert 400 <= response.status_code < 500
    assert not Participation.objects.filter(status=ParticipationStatus.BALLOT_ISSUED).exists()


def test_an_officer_who_answered_on_the_portal_gets_no_ballot(open_2017, officer_alice, worker_keys):
    services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    response = api_client_for(officer_alice).post(
        f"/api/v1/editions/{open_2017.pk}/ballots/", {"blinded_msg": b64(b"\x01" * 256)}, format="json"
    )
    assert response.status_code == 409


def test_an_officer_holding_a_ballot_cannot_also_answer_on_level_1(
    open_2017, officer_alice, worker_keys, transport
):
    client_for(officer_alice, transport).ballot_obtain(open_2017.pk)
    with pytest.raises(services.AlreadySubmitted):
        services.response_submit(edition=open_2017, officer=officer_alice, answers=BASE_ANSWERS)
    assert not StagedSubmission.objects.exists()


def test_no_ballot_after_the_edition_closes(open_2017, officer_alice):
    survey_services.edition_close(edition=open_2017)
    response = api_client_for(officer_alice).post(
        f"/api/v1/editions/{open_2017.pk}/ballots/", {"blinded_msg": b64(b"\x01" * 256)}, format="json"
    )
    assert response.status_code == 409


# --- submitting -------------------------------------------------------------------------------------


def test_a_ballot_is_accepted_once(open_2017, officer_alice, worker_keys, transport):
    client = client_for(officer_alice, transport)
    ballot = client.ballot_obtain(open_2017.pk)
    receipt = client.answers_submit(ballot, BASE_ANSWERS)
    assert len(receipt) == 29
    assert StagedSubmission.objects.count() == 1
    assert SpentBallot.objects.get().digest == hashlib.sha256(ballot.token).hexdigest()
    with pytest.raises(BallotError) as again:
        client.answers_submit(ballot, BASE_ANSWERS)
    assert again.value.status == 409
    assert StagedSubmission.objects.count() == 1


def test_the_ballot_survives_being_stored_as_json(open_2017, officer_alice, worker_keys, transport):
    client = client_for(officer_alice, transport)
    stored = client.ballot_obtain(open_2017.pk).to_json()
    assert client.answers_submit(Ballot.from_json(stored), BASE_ANSWERS)


def test_the_anonymous_endpoint_takes_no_credentials_and_sets_no_cookie(
    open_2017, officer_alice, worker_keys, transport
):
    ballot = client_for(officer_alice, transport).ballot_obtain(open_2017.pk)
    anonymous_request, _ = transport.exchanges[-1]
    assert "authorization" in {k.lower() for k in anonymous_request.headers}  # the issue step is signed in
    transport.exchanges.clear()
    BallotClient("http://testserver", transport=transport).answers_submit(ballot, BASE_ANSWERS)
    ((request, response),) = transport.exchanges
    assert "authorization" not in request.headers and "cookie" not in request.headers
    assert "set-cookie" not in response.headers


def test_the_anonymous_endpoint_ignores_a_session_and_a_token_sent_anyway(
    open_2017, officer_alice, worker_keys, transport, client
):
    """It authenticates no one: a logged-in browser's cookie and a bogus token change nothing."""
    ballot = client_for(officer_alice, transport).ballot_obtain(open_2017.pk)
    client.force_login(officer_alice)
    response = client.post(
        f"/api/v1/editions/{open_2017.pk}/anonymous-responses/",
        {"token": b64(ballot.token), "signature": b64(ballot.signature), "answers": BASE_ANSWERS},
        content_type="application/json",
        headers={"Authorization": "Token not-a-real-token"},
    )
    assert response.status_code == 201  # an authenticating view would have answered 401
    assert not response.cookies
    assert Participation.objects.get(user=officer_alice).status == ParticipationStatus.BALLOT_ISSUED


def test_a_forged_signature_is_refused(open_2017, worker_keys):
    token = blindrsa.prepare(b"x" * 32)
    assert anonymous_post(open_2017, token, b"\x01" * 256).status_code == 403
    assert not StagedSubmission.objects.exists() and not SpentBallot.objects.exists()


def test_a_tampered_token_is_refused(open_2017, officer_alice, worker_keys, transport):
    ballot = client_for(officer_alice, transport).ballot_obtain(open_2017.pk)
    tampered = bytes([ballot.token[0] ^ 1]) + ballot.token[1:]
    assert anonymous_post(open_2017, tampered, ballot.signature).status_code == 403
    assert not StagedSubmission.objects.exists()


def test_a_ballot_for_another_edition_is_refused(open_2017, open_2016, officer_alice, worker_keys, transport):
    ballot = client_for(officer_alice, transport).ballot_obtain(open_2016.pk)
    assert anonymous_post(open_2017, ballot.token, ballot.signature).status_code == 403
    assert not StagedSubmission.objects.exists()


@pytest.mark.parametrize("field", ["token", "signature"])
def test_an_oversized_token_or_signature_is_refused(open_2017, worker_keys, field):
    sizes = {"token": 64, "signature": 256}
    sizes[field] = 5000
    response = anonymous_post(open_2017, b"\x01" * sizes["token"], b"\x01" * sizes["signature"])
    assert 400 <= response.status_code < 500
    assert not StagedSubmission.objects.exists()


def test_invalid_answers_get_400_and_leave_the_ballot_unspent(
    open_2017, officer_alice, worker_keys, transport
):
    client = client_for(officer_alice, transport)
    ballot = client.ballot_obtain(open_2017.pk)
    with pytest.raises(BallotError) as invalid:
        client.answers_submit(ballot, {**BASE_ANSWERS, "country": "Sweden"})
    assert invalid.value.status == 400 and "country" in invalid.value.body["errors"]
    assert not SpentBallot.objects.exists()
    assert client.answers_submit(ballot, BASE_ANSWERS)  # corrected, it goes through


def test_a_foreign_origin_is_refused_and_our_own_is_accepted(
    open_2017, officer_alice, worker_keys, transport
):
    ballot = client_for(officer_alice, transport).ballot_obtain(open_2017.pk)
    foreign = anonymous_post(open_2017, ballot.token, ballot.signature, Origin="https://evil.example")
    assert foreign.status_code == 403
    own = anonymous_post(open_2017, ballot.token, ballot.signature, Origin="http://testserver")
    assert own.status_code == 201


def test_a_ballot_is_refused_after_the_edition_closes(open_2017, officer_alice, worker_keys, transport):
    ballot = client_for(officer_alice, transport).ballot_obtain(open_2017.pk)
    survey_services.edition_close(edition=open_2017)
    assert anonymous_post(open_2017, ballot.token, ballot.signature).status_code == 409


# --- what a run leaves behind -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_after_a_run_nothing_stored_joins_a_participation_to_a_response(
    series, officers, worker_keys, transport
):
    edition = survey_services.edition_open(
        edition=import_reference(series, "2017"), closes_at=timezone.now() + timedelta(days=1)
    )
    people = officers(12)
    held = []
    for officer in people:
        held.append(client_for(officer, transport).ballot_obtain(edition.pk))
    issued = [
        (request, response)
        for request, response in transport.exchanges
        if request.url.path.endswith("/ballots/")
    ]
    receipts = [
        BallotClient("http://testserver", transport=transport).answers_submit(
            ballot, {**BASE_ANSWERS, "children_rescued": n}
        )
        for n, ballot in enumerate(reversed(held))
    ]
    survey_services.edition_close(edition=edition)
    assert services.pool_release(edition_id=edition.pk) == 12
    assert Response.objects.filter(edition=edition).count() == 12
    assert ReceiptDigest.objects.filter(edition=edition).count() == len(set(receipts)) == 12
    assert services.edition_response_counts(edition=edition) == {
        "submitted": 12,
        "submitted_with_ballot": 12,
        "ballots_issued": 12,
        "released": 12,
        "held": 0,
    }
    # What the identity side saw at issue time (blinded messages, blind signatures) is stored nowhere,
    # and what the anonymous side stores (digests of tokens) was never seen at issue time.
    dump = pg_dump()
    for request, response in issued:
        blinded = base64.b64decode(httpx.Response(200, content=request.content).json()["blinded_msg"])
        blind_sig = base64.b64decode(response.json()["blind_sig"])
        for secret in (blinded, blind_sig):
            assert secret.hex() not in dump and base64.b64encode(secret).decode() not in dump
    spent = set(SpentBallot.objects.filter(edition=edition).values_list("digest", flat=True))
    assert spent == {hashlib.sha256(ballot.token).hexdigest() for ballot in held}
    seen_at_issue = b"".join(request.content for request, _ in issued)
    for ballot in held:
        assert b64(ballot.token).encode() not in seen_at_issue
    assert set(Participation.objects.filter(edition=edition).values_list("status", flat=True)) == {
        ParticipationStatus.BALLOT_ISSUED
    }


def test_the_same_blinded_message_again_gets_the_same_signature_not_a_second_ballot(
    open_2017, officer_alice, transport
):
    """A ballot whose response was lost can be fetched again; any other message is refused."""
    client = BallotClient("http://testserver", transport=transport)
    public, _ = client.ballot_key(open_2017.pk)
    prepared = blindrsa.prepare(b"m" * 32)
    blinded, inv = blindrsa.blind(public, prepared)
    api = api_client_for(officer_alice)
    url = f"/api/v1/editions/{open_2017.pk}/ballots/"
    first = api.post(url, {"blinded_msg": b64(blinded)}, format="json")
    again = api.post(url, {"blinded_msg": b64(blinded)}, format="json")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    blindrsa.finalize(public, prepared, base64.b64decode(again.json()["blind_sig"]), inv)
    other, _ = blindrsa.blind(public, blindrsa.prepare(b"n" * 32))
    refused = api.post(url, {"blinded_msg": b64(other)}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "ballot_already_issued"
    participation = Participation.objects.get(user=officer_alice)
    assert participation.ballot_request_digest == hashlib.sha256(blinded).hexdigest()


def test_refusals_carry_a_code_a_program_can_tell_apart(open_2017, officer_alice, worker_keys, transport):
    client = client_for(officer_alice, transport)
    ballot = client.ballot_obtain(open_2017.pk)
    client.answers_submit(ballot, BASE_ANSWERS)
    spent = anonymous_post(open_2017, ballot.token, ballot.signature)
    assert spent.status_code == 409 and spent.json()["code"] == "ballot_spent"
    survey_services.edition_close(edition=open_2017)
    closed = anonymous_post(open_2017, ballot.token, ballot.signature)
    assert closed.status_code == 409 and closed.json()["code"] == "not_open"
    forged = anonymous_post(open_2017, ballot.token, b"\x02" * 256)
    assert forged.status_code == 403 and forged.json()["code"] == "ballot_invalid"
