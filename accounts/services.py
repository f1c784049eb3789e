"""Writes on the identity side: accounts, roles, vetting, API tokens, audit."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from knox.models import AuthToken

from accounts.models import AuditEvent, OfficerProfile, Role, User, VettingStatus


def audit_record(
    *, actor: User | None, action: str, target: str = "", details: Mapping[str, Any] | None = None
) -> None:
    """Append one audit row. Callers pass identity-side or administrative facts only, never answers."""
    AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_email=actor.email if actor is not None else "",
        action=action,
        target=target,
        details=dict(details or {}),
    )


def roles_ensure_groups() -> None:
    for role in Role:
        Group.objects.get_or_create(name=role.value)


@transaction.atomic
def user_create(
    *,
    email: str,
    role: Role,
    password: str | None = None,
    vetted: bool = False,
    actor: User | None = None,
) -> User:
    """Create an account with one role. Officers get a profile, pending unless `vetted`."""
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValueError(f"an account with e-mail {email} already exists")
    user = User.objects.create_user(email=email, password=password)
    if password is None:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    group, _ = Group.objects.get_or_create(name=role.value)
    user.groups.add(group)
    if role == Role.OFFICER:
        OfficerProfile.objects.create(
            user=user, vetting_status=VettingStatus.VETTED if vetted else VettingStatus.PENDING
        )
    # allauth wants a verified address record before it lets the person log in.
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    audit_record(
        actor=actor, action="user.created", target=email, details={"role": role.value, "vetted": vetted}
    )
    return user


def api_token_create(*, user: User, actor: User | None = None) -> str:
    """Issue an API token and return its key; only a digest is stored."""
    _instance, key = AuthToken.objects.create(user=user)
    audit_record(actor=actor or user, action="api_token.created", target=user.email)
    return key
