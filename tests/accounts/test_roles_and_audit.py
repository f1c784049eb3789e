"""Roles are Django groups changed by administrators (audited); the audit log is append-only,
filterable by administrators, and holds no answers."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.utils import timezone

from accounts.models import AuditEvent, Role, User
from accounts.services import RoleChangeRefused, audit_record, user_role_set
from tests.conftest import login_with_mfa


def test_an_administrator_grants_and_revokes_a_role(client, admin_ada, officer_alice):
    client = login_with_mfa(client, admin_ada)
    client.post("/staff/people/roles/", {"email": "ALICE@police.example", "role": "analyst", "grant": "1"})
    assert User.objects.get(pk=officer_alice.pk).has_role(Role.ANALYST)
    assert "alice@police.example" in client.get("/staff/people/roles/").content.decode()
    client.post("/staff/people/roles/", {"email": "alice@police.example", "role": "analyst", "grant": "0"})
    assert not User.objects.get(pk=officer_alice.pk).has_role(Role.ANALYST)
    events = AuditEvent.objects.filter(action__startswith="role.").order_by("id")
    assert [(e.action, e.target, e.details["role"]) for e in events] == [
        ("role.granted", "alice@police.example", "analyst"),
        ("role.revoked", "alice@police.example", "analyst"),
    ]


def test_a_new_analyst_must_set_up_mfa_before_staff_pages_open(client, admin_ada, officer_alice):
    user_role_set(user=officer_alice, role=Role.ANALYST, granted=True, actor=admin_ada)
    client.force_login(officer_alice)
    response = client.get("/staff/editions/")
    assert response["Location"].startswith("/accounts/2fa/totp/activate/")


def test_an_administrator_cannot_remove_their_own_role(client, admin_ada):
    with pytest.raises(RoleChangeRefused, match="your own administrator role"):
        user_role_set(user=admin_ada, role=Role.ADMINISTRATOR, granted=False, actor=admin_ada)
    response = login_with_mfa(client, admin_ada).post(
        "/staff/people/roles/", {"email": "ada@agency.example", "role": "administrator", "grant": "0"}
    )
    assert "your own administrator role" in response.content.decode()


def test_the_audit_log_filters_by_action_prefix_actor_target_and_date(client, admin_ada, officer_alice):
    AuditEvent.objects.all().delete()
    audit_record(actor=admin_ada, action="vetting.approved", target="alice@police.example")
    audit_record(actor=None, action="login.failed", target="unknown account")
    audit_record(actor=officer_alice, action="login.succeeded", target="alice@police.example")
    old = AuditEvent.objects.create(action="login.succeeded", target="old@police.example")
    AuditEvent.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=40))
    client = login_with_mfa(client, admin_ada)

    def targets(**query):
        response = client.get("/staff/people/audit/", query)
        assert response.status_code == 200
        return [(e.action, e.target) for e in response.context["page"]]

    assert len(targets()) >= 4
    assert {a for a, _ in targets(action="login.")} == {"login.failed", "login.succeeded"}
    assert targets(actor="ada@") == [("vetting.approved", "alice@police.example")]
    assert targets(target="old@") == [("login.succeeded", "old@police.example")]
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert ("login.succeeded", "old@police.example") not in targets(since=since)


def test_the_audit_log_pages_fifty_at_a_time_in_a_fixed_number_of_queries(
    client, admin_ada, django_assert_max_num_queries
):
    AuditEvent.objects.bulk_create(AuditEvent(action="login.failed", target=f"t{n}") for n in range(120))
    client = login_with_mfa(client, admin_ada)
    with django_assert_max_num_queries(12):
        response = client.get("/staff/people/audit/", {"page": 2})
    assert len(response.context["page"]) == 50 and "Page 2 of" in response.content.decode()


def test_only_administrators_see_the_audit_log(client, analyst_ann):
    assert login_with_mfa(client, analyst_ann).get("/staff/people/audit/").status_code == 403


def test_audit_rows_are_append_only_in_the_admin(admin_ada):
    model_admin = admin.site._registry[AuditEvent]
    assert not model_admin.has_change_permission(None) and not model_admin.has_delete_permission(None)
