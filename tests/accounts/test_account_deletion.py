"""Deleting an account removes the identity and its participation records, and never touches or
reveals an answer: the anonymous side has nothing that points at an account."""

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps

from accounts.models import (
    AuditEvent,
    DeletedOfficer,
    OfficerProfile,
    Participation,
    ParticipationStatus,
    Role,
    User,
    VettingStatus,
)
from accounts.services import (
    RoleChangeRefused,
    agency_domain_add,
    officer_signup,
    officer_vet_by_email_domain,
    officer_vetting_approve,
    officer_vetting_reject,
    user_create,
    user_delete,
)
from responses.models import Response
from responses.services import AlreadySubmitted, pool_keys_replenish, pool_release, response_submit
from tests.conftest import login_with_mfa
from tests.responses.conftest import BASE_ANSWERS

# Apps whose tables hold who people are and what they may do (docs/architecture.md, accounts).
IDENTITY_APPS = {"accounts", "auth", "account", "mfa", "socialaccount", "knox", "sessions", "admin"}


def other_side_snapshot() -> dict[str, list[tuple]]:
    """Every row of every table outside the identity side."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values_list())
        for model in apps.get_models()
        if model._meta.app_label not in IDENTITY_APPS | {"contenttypes"}
    }


@pytest.fixture
def answered(settings, tmp_path, officer_alice, officer_bob, open_2017):
    """Alice and Bob have answered; the answers are released into the anonymous tables."""
    settings.POOL_KEY_DIR = tmp_path / "pool-keys"
    pool_keys_replenish(spare=1)
    for officer in (officer_alice, officer_bob):
        response_submit(edition=open_2017, officer=officer, answers=BASE_ANSWERS)
    assert pool_release(edition_id=open_2017.pk) == 2
    return open_2017


def test_an_officer_deletes_their_account_and_the_anonymous_side_is_unchanged(
    client, officer_alice, answered
):
    assert Participation.objects.filter(user=officer_alice, status=ParticipationStatus.SUBMITTED).exists()
    assert Response.objects.filter(edition=answered).count() == 2
    client.force_login(officer_alice)
    before = other_side_snapshot()

    page = client.get("/profile/delete/").content.decode()
    assert "stay in the results" in page
    assert client.post("/profile/delete/", {"confirm": "delete"}).status_code == 200  # must be DELETE
    response = client.post("/profile/delete/", {"confirm": "DELETE"})

    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(email="alice@police.example").exists()
    assert list(Participation.objects.values_list("user__email", flat=True)) == ["bob@police.example"]
    assert other_side_snapshot() == before  # both answers, and everything else, untouched


def test_an_officers_email_leaves_the_audit_log_with_the_account(officer_alice, admin_ada):
    pk = officer_alice.pk
    user_delete(user=officer_alice, actor=officer_alice)
    assert not AuditEvent.objects.filter(actor_email="alice@police.example").exists()
    assert not AuditEvent.objects.filter(target="alice@police.example").exists()
    created = AuditEvent.objects.get(action="user.created", target=f"deleted account #{pk}")
    assert created.details["role"] == "officer"
    deleted = AuditEvent.objects.get(action="user.deleted")
    assert (deleted.target, deleted.actor_email, deleted.details) == (
        f"deleted account #{pk}",
        "",
        {"roles": ["officer"], "by": "self"},
    )


def test_a_staff_members_email_stays_in_the_audit_log(admin_ada, db):
    analyst = user_create(email="former@agency.example", role=Role.ANALYST)
    user_delete(user=analyst, actor=admin_ada)
    event = AuditEvent.objects.get(action="user.deleted")
    assert (event.target, event.actor_email) == ("former@agency.example", "ada@agency.example")


def test_the_last_administrator_cannot_delete_their_account(client, admin_ada):
    with pytest.raises(RoleChangeRefused, match="last administrator"):
        user_delete(user=admin_ada, actor=admin_ada)
    response = login_with_mfa(client, admin_ada).post("/profile/delete/", {"confirm": "DELETE"})
    assert response.status_code == 200 and "last administrator" in response.content.decode()
    assert User.objects.filter(pk=admin_ada.pk).exists()


def sign_up_again(email: str) -> User:
    """The sign-up form's path (accounts/adapters.py): a new user, then officer_signup."""
    user = User.objects.create_user(email=email, password="another-password-123")
    officer_signup(user=user, agency="Kent Police", country="GB")
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)  # confirmed
    return user


def test_signing_up_again_does_not_answer_an_edition_twice(officer_alice, admin_ada, answered):
    user_delete(user=officer_alice, actor=officer_alice)
    again = sign_up_again("Alice@police.example")
    officer_vetting_approve(profile=again.officer_profile, actor=admin_ada)

    assert Participation.objects.get(user=again, edition=answered).status == ParticipationStatus.SUBMITTED
    with pytest.raises(AlreadySubmitted):
        response_submit(edition=answered, officer=again, answers=BASE_ANSWERS)
    # An account an administrator creates at the address keeps the answer too.
    user_delete(user=again, actor=admin_ada)
    created = user_create(email="alice@police.example", role=Role.OFFICER, vetted=True, actor=admin_ada)
    assert Participation.objects.get(user=created, edition=answered).status == ParticipationStatus.SUBMITTED


def test_signing_up_again_does_not_overturn_a_rejection(pending_pete, admin_ada):
    officer_vetting_reject(profile=pending_pete.officer_profile, actor=admin_ada, reason="Not an officer.")
    user_delete(user=pending_pete, actor=pending_pete)
    agency_domain_add(pattern="police.example", agency="Example Police", actor=admin_ada)

    again = sign_up_again("pete@police.example")
    assert officer_vet_by_email_domain(user=again) is None
    assert OfficerProfile.objects.get(user=again).vetting_status == VettingStatus.REJECTED
    # Only a keyed digest of the address is kept, with no time and no account id.
    record = DeletedOfficer.objects.get()
    assert "pete" not in str(record.email_digest) and len(record.email_digest) == 64
    assert {f.name for f in DeletedOfficer._meta.get_fields()} == {
        "id",
        "email_digest",
        "rejected",
        "participations",
    }


def test_an_officer_with_nothing_to_remember_leaves_nothing(pending_pete):
    user_delete(user=pending_pete, actor=pending_pete)
    assert not DeletedOfficer.objects.exists()
