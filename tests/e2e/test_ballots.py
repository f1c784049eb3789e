"""Blind-signed ballots in a real browser: the committed bundle against the Python server's RFC 9474 code,
the level-1 fallback where the browser cannot, a ballot held by another browser, and the anonymous
endpoint's per-question errors shown without losing the draft or the ballot.

The full journey through the anonymous endpoint (no cookie sent, none set, receipt released) is
tests/e2e/test_portal_journeys.py::test_an_officer_answers_with_live_skip_logic_and_a_draft_kept_on_the_device.
"""

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from accounts.models import Participation, ParticipationStatus
from responses import blindrsa
from responses.models import StagedSubmission
from tests.e2e.helpers import ballot_key, ballots, drafts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

expect = pytest.importorskip("playwright.sync_api").expect

MANIFEST = Path(__file__).resolve().parents[2] / "static" / "js" / "vendor" / "ballot.manifest.json"
BUNDLE = json.loads(MANIFEST.read_text())["file"]  # the committed file, as the live server serves it


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def public_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def bundle_page(browser, live_server):
    """A page of the live site (a secure context: WebCrypto is there) with the committed bundle loaded."""
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/anonymity/")
    page.add_script_tag(url=f"/static/{BUNDLE}")
    yield page
    context.close()


@pytest.mark.parametrize("bits", [2048, 3072])
def test_the_bundle_blinds_python_signs_the_bundle_finalizes_and_python_verifies(bundle_page, bits):
    key = blindrsa.generate_private_key(bits)
    pem = public_pem(key)
    seen_by_signer = []

    def blind_sign(blinded_b64: str) -> str:
        blinded = base64.b64decode(blinded_b64)
        seen_by_signer.append(blinded)
        return b64(blindrsa.blind_sign(key, blinded))

    bundle_page.expose_function("pythonBlindSign", blind_sign)
    ballot = bundle_page.evaluate("pem => VettedBallot.obtainBallot(pem, window.pythonBlindSign)", pem)
    token, signature = base64.b64decode(ballot["token"]), base64.b64decode(ballot["signature"])

    blindrsa.verify(key.public_key(), token, signature)  # raises InvalidSignature if not
    assert len(token) == blindrsa.PREFIX_LENGTH + 32 and len(signature) == bits // 8
    (blinded,) = seen_by_signer
    assert len(blinded) == bits // 8 and token not in blinded and signature != blinded
    # The fingerprint the page shows is Python's: SHA-256 over the DER SubjectPublicKeyInfo.
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert bundle_page.evaluate("pem => VettedBallot.fingerprint(pem)", pem) == (
        "sha256:" + hashlib.sha256(der).hexdigest()
    )


def test_a_ballot_made_by_the_python_client_verifies_in_the_bundle_and_a_tampered_one_does_not(bundle_page):
    key = blindrsa.generate_private_key(2048)
    prepared = blindrsa.prepare(b"ballot made in Python")
    blinded, inv = blindrsa.blind(key.public_key(), prepared)
    signature = blindrsa.finalize(key.public_key(), prepared, blindrsa.blind_sign(key, blinded), inv)
    check = "([pem, token, sig]) => VettedBallot.verifyBallot(pem, token, sig)"
    pem = public_pem(key)
    assert bundle_page.evaluate(check, [pem, b64(prepared), b64(signature)]) is True
    tampered = bytes([prepared[0] ^ 1]) + prepared[1:]
    assert bundle_page.evaluate(check, [pem, b64(tampered), b64(signature)]) is False
    other = public_pem(blindrsa.generate_private_key(2048))
    assert bundle_page.evaluate(check, [other, b64(prepared), b64(signature)]) is False


def test_the_bundle_refuses_a_blind_signature_made_with_another_key(bundle_page):
    published, other = blindrsa.generate_private_key(2048), blindrsa.generate_private_key(2048)
    # The other key must have the larger modulus, or blind_sign rightly refuses the message as out of its
    # range before the bundle ever sees a signature.
    while other.public_key().public_numbers().n <= published.public_key().public_numbers().n:
        other = blindrsa.generate_private_key(2048)
    bundle_page.expose_function(
        "wrongKeySign", lambda blinded: b64(blindrsa.blind_sign(other, base64.b64decode(blinded)))
    )
    outcome = bundle_page.evaluate(
        """pem => VettedBallot.obtainBallot(pem, window.wrongKeySign)
             .then(() => 'accepted', error => 'refused: ' + error.message)""",
        public_pem(published),
    )
    assert outcome == "refused: invalid signature"


# --- in the portal -------------------------------------------------------------------------------------


def next_page(page, text: str) -> None:
    page.click("button[name=_action][value=next]")
    expect(page.locator(".progress-text")).to_have_text(text)


def answer_to_the_last_page(page, edition) -> None:
    """The required questions of the 2017 questionnaire, page by page, up to the page with Submit."""
    page.goto(f"/portal/{edition.pk}/")
    page.select_option("#f-country", "SE")
    page.check("input[name=agency_type][value=national]")
    next_page(page, "Page 2 of 8")
    page.check("input[name=workload_change][value=unchanged]")
    page.check("input[name=better_equipped][value=no]")
    next_page(page, "Page 3 of 8")
    next_page(page, "Page 4 of 8")
    page.check("input[name=access_family][value=common]")
    next_page(page, "Page 5 of 8")
    page.check("input[name=viewing_handson_correlation][value=common]")
    next_page(page, "Page 6 of 8")
    next_page(page, "Page 7 of 8")
    next_page(page, "Page 8 of 8")


def test_without_web_cryptography_the_portal_falls_back_to_level_1_and_says_so(
    login, shot, open_2017, officer_alice, worker_keys
):
    page = login(officer_alice)
    page.add_init_script("Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined })")
    requests = []
    page.on("request", lambda request: requests.append(request))
    answer_to_the_last_page(page, open_2017)
    expect(page.locator("#ballot")).to_have_attribute("data-mode", "fallback")
    expect(page.locator("#ballot-message")).to_contain_text(
        "This browser has no Web Cryptography, so your answers will be sent the standard way"
    )
    expect(page.locator("#ballot-fingerprint")).to_be_hidden()
    shot(page, "fallback-said")
    page.click("button[name=_action][value=submit]")
    expect(page.locator("h1")).to_have_text("Thank you — your answers are in")
    expect(page.locator("#draft-cleared")).to_be_visible()  # the server-rendered, level-1 receipt page
    assert drafts(page) == {} and ballots(page) == {}
    # No ballot was asked for: the answers went with the form, and nothing else left the page.
    assert [r.url for r in requests if r.resource_type in {"xhr", "fetch"}] == []
    assert (
        Participation.objects.get(user=officer_alice, edition=open_2017).status
        == ParticipationStatus.SUBMITTED
    )
    assert StagedSubmission.objects.count() == 1


def test_without_javascript_the_page_says_the_answers_go_the_standard_way(login, open_2017, officer_alice):
    page = login(officer_alice, java_script_enabled=False)
    page.goto(f"/portal/{open_2017.pk}/")
    expect(page.locator("#ballot-message")).to_contain_text(
        "JavaScript is off in this browser, so your answers will be sent the standard way"
    )
    expect(page.locator("#ballot-fingerprint")).to_be_hidden()


def test_a_ballot_held_by_another_browser_is_explained_and_this_one_cannot_submit(
    login, shot, open_2017, officer_alice
):
    first = login(officer_alice)
    first.goto(f"/portal/{open_2017.pk}/")
    expect(first.locator("#ballot")).to_have_attribute("data-mode", "ready")
    held = ballots(first)[ballot_key(open_2017, officer_alice)]
    assert set(held) == {"fingerprint", "token", "signature"}
    expect(first.locator("#ballot-fingerprint code")).to_have_text(held["fingerprint"])

    other_device = login(officer_alice)
    other_device.goto(f"/portal/{open_2017.pk}/")
    expect(other_device.locator("#ballot")).to_have_attribute("data-mode", "blocked")
    expect(other_device.locator("#ballot-message")).to_contain_text(
        "A ballot for this questionnaire has already been issued to you, but it is not in this browser"
    )
    expect(other_device.locator("#ballot-message")).to_contain_text(
        "can only be sent from the browser that holds that ballot"
    )
    shot(other_device, "ballot-elsewhere")
    # It keeps only its own blinded request (to retry it after a lost response), no usable ballot.
    assert [set(b) for b in ballots(other_device).values()] == [{"fingerprint", "token", "blindedMsg", "inv"}]
    # The ballot in the first browser is untouched and still works there.
    first.reload()
    expect(first.locator("#ballot")).to_have_attribute("data-mode", "ready")
    assert list(ballots(first).values()) == [held]


def test_errors_from_the_anonymous_endpoint_are_shown_by_the_questions_and_keep_draft_and_ballot(
    login, shot, open_2017, officer_alice, worker_keys
):
    page = login(officer_alice)
    answer_to_the_last_page(page, open_2017)
    expect(page.locator("#ballot")).to_have_attribute("data-mode", "ready")

    # The page checks what it can before sending; the endpoint has the last word. Answers the browser
    # took for good are made invalid on the way: one on this page, one on page 1.
    def spoil(route):
        body = json.loads(route.request.post_data)
        body["answers"].update(children_rescued="-5", country="XX")
        route.continue_(post_data=json.dumps(body))

    page.route("**/anonymous-responses/", spoil)
    held = ballots(page)
    with page.expect_response(lambda r: r.url.endswith("/anonymous-responses/")) as sent:
        page.click("button[name=_action][value=submit]")
    assert sent.value.status == 400
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.locator("li")).to_have_count(2)
    expect(page.locator("#q-children_rescued .field-error")).to_be_visible()
    expect(page.locator("#f-children_rescued")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#ballot-send-status")).to_contain_text("Your answers were not sent")
    shot(page, "errors-shown")
    assert drafts(page) and ballots(page) == held  # nothing lost, the ballot is still unspent
    assert StagedSubmission.objects.count() == 0

    # The question on another page: its link goes there and the error is shown beside it.
    summary.locator("a", has_text="About you").click()
    expect(page.locator(".progress-text")).to_have_text("Page 1 of 8")
    expect(page.locator("#q-country .field-error")).to_be_visible()
    expect(page.locator("#error-summary")).to_be_visible()
    shot(page, "error-on-its-page")


def test_a_ballot_signed_under_another_key_is_kept_and_not_replaced(login, open_2017, officer_alice):
    page = login(officer_alice)
    page.goto("/portal/")
    old = {"fingerprint": "sha256:" + "0" * 64, "token": b64(b"t" * 64), "signature": b64(b"s" * 256)}
    key = ballot_key(open_2017, officer_alice)
    page.evaluate("([key, ballot]) => localStorage.setItem(key, JSON.stringify(ballot))", [key, old])
    requests = []
    page.on("request", lambda request: requests.append(request))
    page.goto(f"/portal/{open_2017.pk}/")
    expect(page.locator("#ballot")).to_have_attribute("data-mode", "blocked")
    expect(page.locator("#ballot-message")).to_contain_text(old["fingerprint"])
    assert ballots(page) == {key: old}
    assert not [r for r in requests if r.url.endswith("/ballots/")]  # no second ballot asked for
    assert (
        Participation.objects.filter(
            user=officer_alice, edition=open_2017, status=ParticipationStatus.BALLOT_ISSUED
        ).count()
        == 0
    )
