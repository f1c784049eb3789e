import csv
import io

import pytest
from django.core.management import CommandError, call_command
from knox.auth import TokenAuthentication

from accounts.models import AuditEvent, Role, User, VettingStatus


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("createuser", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_creates_a_vetted_officer_whose_token_authenticates():
    output = run("alice@police.example", "--role", "officer", "--vetted", "--api-token")
    user = User.objects.get(email="alice@police.example")
    assert user.has_role(Role.OFFICER)
    assert user.officer_profile.vetting_status == VettingStatus.VETTED
    token = output.split()[-1]
    authenticated_user, _ = TokenAuthentication().authenticate_credentials(token.encode())
    assert authenticated_user == user


@pytest.mark.django_db
def test_an_officer_is_pending_without_vetted_and_has_no_usable_password_without_one():
    run("pete@police.example", "--role", "officer")
    user = User.objects.get(email="pete@police.example")
    assert user.officer_profile.vetting_status == VettingStatus.PENDING
    assert not user.has_usable_password()


@pytest.mark.django_db
def test_it_sets_the_password_and_writes_an_audit_row():
    run("ada@agency.example", "--role", "administrator", "--password", "a-long-enough-password")
    user = User.objects.get(email="ada@agency.example")
    assert user.check_password("a-long-enough-password")
    assert user.has_role(Role.ADMINISTRATOR) and not user.has_role(Role.OFFICER)
    assert AuditEvent.objects.filter(action="user.created", target="ada@agency.example").exists()


@pytest.mark.django_db
def test_it_refuses_a_duplicate_email_and_vetted_for_staff():
    run("ann@agency.example", "--role", "analyst")
    with pytest.raises(CommandError, match="already exists"):
        run("ANN@agency.example", "--role", "analyst")
    with pytest.raises(CommandError, match="officers only"):
        run("x@agency.example", "--role", "analyst", "--vetted")


@pytest.mark.django_db
def test_csv_creates_everyone_and_prints_email_and_token(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(
        "email,role,vetted\na@p.example,officer,yes\nb@p.example,officer,no\nc@p.example,analyst,\n"
    )
    output = run("--csv", str(path), "--api-token")
    rows = list(csv.DictReader(io.StringIO(output)))
    assert [r["email"] for r in rows] == ["a@p.example", "b@p.example", "c@p.example"]
    assert all(len(r["token"]) >= 32 for r in rows)
    assert User.objects.get(email="a@p.example").officer_profile.vetting_status == VettingStatus.VETTED
    assert User.objects.get(email="b@p.example").officer_profile.vetting_status == VettingStatus.PENDING


@pytest.mark.django_db
def test_csv_with_a_bad_row_creates_nobody(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,role,vetted\na@p.example,officer,yes\nb@p.example,sheriff,no\n")
    with pytest.raises(CommandError, match="line 3: role 'sheriff'"):
        run("--csv", str(path))
    assert not User.objects.exists()


@pytest.mark.django_db
def test_csv_with_a_duplicate_creates_nobody(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,role,vetted\na@p.example,officer,yes\na@p.example,officer,no\n")
    with pytest.raises(CommandError, match="already exists"):
        run("--csv", str(path))
    assert not User.objects.exists()
