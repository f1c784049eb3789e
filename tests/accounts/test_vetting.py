"""Manual vetting: the queue, approval and rejection with a reason, each told to the officer by e-mail."""

import pytest
from django.core import mail

from accounts.models import AuditEvent, VettingStatus
from accounts.selectors import user_is_vetted_officer
from accounts.services import VettingError, officer_vetting_approve, officer_vetting_reject
from tests.conftest import login_with_mfa


@pytest.fixture
def staff(client, admin_ada):
    return login_with_mfa(client, admin_ada)


def test_the_queue_lists_pending_officers_with_their_vetting_facts(staff, pending_pete, officer_alice):
    profile = pending_pete.officer_profile
    profile.agency, profile.country, profile.job_title = "Example Police", "NL", "Inspector"
    profile.save()
    body = staff.get("/staff/people/vetting/").content.decode()
    assert "pete@police.example" in body and "Example Police" in body and "Inspector" in body
    assert "alice@police.example" not in body  # already vetted
    assert "alice@police.example" in staff.get("/staff/people/vetting/?status=vetted").content.decode()


def test_approving_vets_the_officer_and_tells_them(staff, pending_pete, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(f"/staff/people/vetting/{pending_pete.officer_profile.pk}/approve/")
    assert response.status_code == 302
    pending_pete.officer_profile.refresh_from_db()
    assert pending_pete.officer_profile.vetting_status == VettingStatus.VETTED
    assert pending_pete.officer_profile.vetted_via == "review"
    assert user_is_vetted_officer(pending_pete)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["pete@police.example"]
    assert "has confirmed your account" in mail.outbox[0].body
    event = AuditEvent.objects.get(action="vetting.approved")
    assert (event.actor_email, event.target) == ("ada@agency.example", "pete@police.example")


def test_rejecting_needs_a_reason_which_the_officer_receives(
    staff, pending_pete, django_capture_on_commit_callbacks
):
    url = f"/staff/people/vetting/{pending_pete.officer_profile.pk}/reject/"
    assert staff.post(url, {"reason": ""}).status_code == 200  # the form asks for the reason
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(url, {"reason": "We could not confirm your agency."})
    pending_pete.officer_profile.refresh_from_db()
    assert pending_pete.officer_profile.vetting_status == VettingStatus.REJECTED
    assert not user_is_vetted_officer(pending_pete)
    assert len(mail.outbox) == 1 and "We could not confirm your agency." in mail.outbox[0].body
    event = AuditEvent.objects.get(action="vetting.rejected")
    assert event.details == {"reason": "We could not confirm your agency.", "previous": "pending"}


def test_nothing_is_sent_when_the_decision_rolls_back(
    pending_pete, admin_ada, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        officer_vetting_approve(profile=pending_pete.officer_profile, actor=admin_ada)
    assert len(callbacks) == 1 and mail.outbox == []


def test_a_rejected_officer_cannot_answer_and_is_told_so_on_the_home_page(client, pending_pete, admin_ada):
    officer_vetting_reject(profile=pending_pete.officer_profile, actor=admin_ada, reason="Not police.")
    client.force_login(pending_pete)
    assert not user_is_vetted_officer(pending_pete)
    body = client.get("/profile/").content.decode()
    assert "Rejected" in body and "Not police." in body


def test_decisions_that_do_not_fit_the_state_are_refused(officer_alice, pending_pete, admin_ada):
    with pytest.raises(VettingError, match="already vetted"):
        officer_vetting_approve(profile=officer_alice.officer_profile, actor=admin_ada)
    officer_vetting_reject(profile=pending_pete.officer_profile, actor=admin_ada, reason="No.")
    with pytest.raises(VettingError, match="already rejected"):
        officer_vetting_reject(profile=pending_pete.officer_profile, actor=admin_ada, reason="No.")
    with pytest.raises(VettingError, match="reason"):
        officer_vetting_reject(profile=officer_alice.officer_profile, actor=admin_ada, reason="  ")


def test_analysts_may_not_vet(client, analyst_ann, pending_pete):
    client = login_with_mfa(client, analyst_ann)
    assert client.get("/staff/people/vetting/").status_code == 403
    assert client.post(f"/staff/people/vetting/{pending_pete.officer_profile.pk}/approve/").status_code == 403
    pending_pete.officer_profile.refresh_from_db()
    assert pending_pete.officer_profile.vetting_status == VettingStatus.PENDING


def test_an_officer_updates_their_vetting_facts(client, pending_pete):
    client.force_login(pending_pete)
    client.post("/profile/", {"agency": "Kent Police", "country": "GB", "job_title": "PC"})
    pending_pete.officer_profile.refresh_from_db()
    assert (pending_pete.officer_profile.agency, pending_pete.officer_profile.country) == (
        "Kent Police",
        "GB",
    )
    event = AuditEvent.objects.get(action="officer.profile_updated")
    assert event.details == {"fields": ["agency", "country", "job_title"]}  # names only, not values
