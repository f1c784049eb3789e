"""Invitations: single or batch codes with expiry and a use limit, revocable, redeemed by a signed-in
pending officer (or at sign-up through the link), e-mailed when issued for one address."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.codes import code_normalise
from accounts.models import AuditEvent, Invitation, Role, User, VettingStatus
from accounts.services import (
    InvitationInvalid,
    invitation_redeem,
    invitations_issue,
    invitations_revoke,
    officer_vetting_reject,
    user_create,
)
from tests.accounts.conftest import link_in
from tests.conftest import PASSWORD, login_with_mfa

IN_30_DAYS = timedelta(days=30)


def issue(admin, *, count=1, max_uses=1, email="", agency="Kent Police"):
    return invitations_issue(
        agency=agency,
        count=count,
        max_uses=max_uses,
        expires_at=timezone.now() + IN_30_DAYS,
        email=email,
        actor=admin,
    )


def pending(n):
    return user_create(email=f"officer{n}@example.org", role=Role.OFFICER, password=PASSWORD)


def status_of(user):
    user.officer_profile.refresh_from_db()
    return user.officer_profile.vetting_status


def test_redeeming_a_code_vets_a_pending_officer_and_fills_the_agency(admin_ada, pending_pete):
    [(invitation, code)] = issue(admin_ada)
    invitation_redeem(code=code, user=pending_pete)
    assert status_of(pending_pete) == VettingStatus.VETTED
    assert pending_pete.officer_profile.vetted_via == "invitation"
    assert pending_pete.officer_profile.agency == "Kent Police"
    invitation.refresh_from_db()
    assert invitation.uses == 1
    event = AuditEvent.objects.get(action="vetting.approved")
    assert event.details == {"via": "invitation", "batch": invitation.batch, "invitation_id": invitation.pk}


def test_codes_are_stored_only_as_digests_and_read_forgivingly(admin_ada, pending_pete):
    [(_, code)] = issue(admin_ada)
    assert code_normalise(code) not in str(Invitation.objects.values_list())
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    invitation_redeem(code=typed, user=pending_pete)
    assert status_of(pending_pete) == VettingStatus.VETTED


def test_a_single_use_code_works_once(admin_ada, db):
    [(_, code)] = issue(admin_ada)
    first, second = pending(1), pending(2)
    invitation_redeem(code=code, user=first)
    with pytest.raises(InvitationInvalid, match="already been used as often as it allows"):
        invitation_redeem(code=code, user=second)
    assert status_of(second) == VettingStatus.PENDING
    assert AuditEvent.objects.filter(action="invitation.refused", target="officer2@example.org").exists()


def test_a_shared_code_works_up_to_its_use_limit(admin_ada, db):
    [(invitation, code)] = issue(admin_ada, max_uses=3)
    officers = [pending(n) for n in range(4)]
    for officer in officers[:3]:
        invitation_redeem(code=code, user=officer)
    with pytest.raises(InvitationInvalid, match="used as often"):
        invitation_redeem(code=code, user=officers[3])
    invitation.refresh_from_db()
    assert invitation.uses == 3 and [status_of(o) for o in officers] == ["vetted"] * 3 + ["pending"]


def test_an_expired_code_is_refused(admin_ada, pending_pete):
    [(invitation, code)] = issue(admin_ada)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(InvitationInvalid, match="expired"):
        invitation_redeem(code=code, user=pending_pete)
    assert status_of(pending_pete) == VettingStatus.PENDING


def test_an_expiry_in_the_past_cannot_be_issued(admin_ada):
    with pytest.raises(ValueError, match="future"):
        invitations_issue(agency="A", count=1, max_uses=1, expires_at=timezone.now(), actor=admin_ada)


def test_a_revoked_code_and_a_revoked_batch_are_refused(admin_ada, db):
    issued = issue(admin_ada, count=3)
    (one, one_code), (_, other_code) = issued[0], issued[1]
    invitations_revoke(invitations=[one], actor=admin_ada)
    with pytest.raises(InvitationInvalid, match="withdrawn"):
        invitation_redeem(code=one_code, user=pending(1))
    second = pending(2)
    invitation_redeem(code=other_code, user=second)  # the rest of the batch still works
    invitations_revoke(invitations=list(Invitation.objects.filter(batch=one.batch)), actor=admin_ada)
    with pytest.raises(InvitationInvalid, match="withdrawn"):
        invitation_redeem(code=issued[2][1], user=pending(3))
    assert status_of(second) == VettingStatus.VETTED  # revoking does not undo earlier vetting
    assert AuditEvent.objects.filter(action="invitation.revoked").count() == 2


def test_a_batch_of_200_codes_for_one_agency(admin_ada):
    issued = issue(admin_ada, count=200, agency="Police Scotland")
    assert len({code for _, code in issued}) == 200
    assert Invitation.objects.filter(batch=issued[0][0].batch, agency="Police Scotland").count() == 200
    event = AuditEvent.objects.get(action="invitation.issued")
    assert event.details["count"] == 200 and event.target == f"batch {issued[0][0].batch}"


def test_unknown_codes_vetted_and_rejected_officers_are_refused_without_using_the_code(
    admin_ada, officer_alice, pending_pete
):
    [(invitation, code)] = issue(admin_ada)
    with pytest.raises(InvitationInvalid, match="not valid"):
        invitation_redeem(code="AAAA-BBBB-CCCC-DDDD", user=pending_pete)
    with pytest.raises(InvitationInvalid, match="already vetted"):
        invitation_redeem(code=code, user=officer_alice)
    officer_vetting_reject(profile=pending_pete.officer_profile, actor=admin_ada, reason="No.")
    with pytest.raises(InvitationInvalid, match="not accepted"):
        invitation_redeem(code=code, user=pending_pete)
    invitation.refresh_from_db()
    assert invitation.uses == 0


def test_an_invitation_for_one_address_is_emailed_and_only_that_address_may_use_it(
    admin_ada, django_capture_on_commit_callbacks, db
):
    with django_capture_on_commit_callbacks(execute=True):
        [(_, code)] = issue(admin_ada, email="Dana@Kent.Police.uk")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["dana@kent.police.uk"]
    assert code in message.body and f"/invite/{code}/" in message.body
    assert "Kent Police" in message.subject
    with pytest.raises(InvitationInvalid, match="different e-mail address"):
        invitation_redeem(code=code, user=pending(1))
    dana = user_create(email="dana@kent.police.uk", role=Role.OFFICER, password=PASSWORD)
    invitation_redeem(code=code, user=dana)
    assert status_of(dana) == "vetted"


def test_administrators_issue_codes_on_the_page_and_see_them_once(client, admin_ada):
    client = login_with_mfa(client, admin_ada)
    response = client.post(
        "/staff/people/invitations/",
        {"agency": "Kent Police", "count": 5, "max_uses": 1, "valid_days": 14, "email": ""},
    )
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    body = response.content.decode()
    assert body.count("/invite/") == 5 and "not shown again" in body
    listing = client.get("/staff/people/invitations/").content.decode()
    assert "/invite/" not in listing and listing.count("Kent Police") >= 5
    # Every column has a header a screen reader can read out, the actions column too.
    assert (
        '<th scope="col"></th>' not in listing and '<span class="visually-hidden">Actions</span>' in listing
    )
    # The page names its icon, so browsers do not ask for /favicon.ico (a 404 on every page).
    assert '<link rel="icon" href="data:,">' in listing
    invitation = Invitation.objects.first()
    client.post(f"/staff/people/invitations/{invitation.pk}/revoke/", {"scope": "batch"})
    assert Invitation.objects.filter(revoked_at__isnull=True).count() == 0


def test_the_invitation_link_before_sign_up_vets_the_new_officer_at_first_login(client, admin_ada):
    [(_, code)] = issue(admin_ada, agency="Gwent Police")
    landing = client.get(f"/invite/{code}/")
    assert landing.status_code == 200 and "Gwent Police" in landing.content.decode()
    client.post(
        "/accounts/signup/",
        {
            "email": "new@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "agency": "Gwent",
            "country": "GB",
        },
    )
    client.post(link_in(mail.outbox[0]))  # confirming the address logs the officer in
    assert status_of(User.objects.get(email="new@example.org")) == VettingStatus.VETTED
    assert AuditEvent.objects.filter(action="vetting.approved", details__via="invitation").exists()


def test_a_signed_in_officer_enters_a_code(client, admin_ada, pending_pete):
    [(_, code)] = issue(admin_ada)
    client.force_login(pending_pete)
    wrong = client.post("/invite/", {"code": "AAAA-BBBB-CCCC-DDDD"})
    assert wrong.status_code == 200 and "not valid" in wrong.content.decode()
    response = client.post("/invite/", {"code": code})
    assert response.status_code == 302
    assert status_of(pending_pete) == VettingStatus.VETTED


def test_redeeming_is_rate_limited_per_user(client, pending_pete):
    client.force_login(pending_pete)
    statuses = [client.post("/invite/", {"code": f"AAAA-BBBB-CCCC-000{n}"}).status_code for n in range(6)]
    assert statuses == [200] * 5 + [429]
    assert AuditEvent.objects.filter(action="invitation.refused").count() == 5


def test_an_unknown_link_is_404(client, db):
    assert client.get("/invite/AAAA-BBBB-CCCC-DDDD/").status_code == 404
