"""Writes on the identity side: accounts, roles, vetting, invitations, API tokens, audit.

Each function that changes state writes its audit row and defers e-mails until the transaction
commits. Nothing here reads or writes the anonymous side.
"""

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from knox.models import AuthToken

from accounts import selectors
from accounts.codes import code_digest, code_generate, code_normalise
from accounts.domains import normalise_pattern
from accounts.mail import render_email, send_emails
from accounts.models import (
    AgencyDomain,
    AgencyProvider,
    AuditEvent,
    DeletedOfficer,
    Invitation,
    OfficerProfile,
    Participation,
    ParticipationStatus,
    Role,
    SsoVettingRule,
    User,
    VettedVia,
    VettingStatus,
)
from config.jobs import enqueue_on_commit
from responses.models import BallotKey
from surveys.models import Edition, EditionStatus
from surveys.selectors import editions_list


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
        profile = OfficerProfile.objects.create(
            user=user,
            vetting_status=VettingStatus.VETTED if vetted else VettingStatus.PENDING,
            vetted_via=VettedVia.COMMAND if vetted else "",
        )
        _deleted_officer_restore(profile, rejection=False)
    # allauth wants a verified address record before it lets the person log in.
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    audit_record(
        actor=actor, action="user.created", target=email, details={"role": role.value, "vetted": vetted}
    )
    return user


def api_token_create(*, user: User, actor: User | None = None) -> str:
    """Issue an API token and return its key; only a digest is stored.

    Callers: the `createuser` command, and the token page, which only a staff member whose session
    passed MFA reaches (accounts/access.py)."""
    instance, key = AuthToken.objects.create(user=user)
    audit_record(
        actor=actor or user,
        action="api_token.created",
        target=user.email,
        details={
            "token": instance.token_key,
            "expires": instance.expiry.isoformat() if instance.expiry else "",
        },
    )
    return key


class TokenRevokeRefused(Exception):
    pass


@transaction.atomic
def api_tokens_purge_expired(*, now: datetime | None = None) -> int:
    """Delete expired API tokens (daily): they no longer authenticate, and nobody needs their digests."""
    deleted, _ = AuthToken.objects.filter(expiry__lt=now or timezone.now()).delete()
    return deleted


def api_token_revoke(*, token: AuthToken, actor: User) -> None:
    """Revoke a token: its owner may, and so may any administrator."""
    if token.user_id != actor.pk and not actor.has_role(Role.ADMINISTRATOR):
        raise TokenRevokeRefused("Only the token's owner or an administrator may revoke it.")
    owner_email, key = token.user.email, token.token_key
    token.delete()
    audit_record(actor=actor, action="api_token.revoked", target=owner_email, details={"token": key})


# --- Sign-up, profile, vetting ---------------------------------------------------------------------


class VettingError(Exception):
    """The vetting decision does not fit the officer's current state."""


def _officer_group() -> Group:
    group, _ = Group.objects.get_or_create(name=Role.OFFICER.value)
    return group


@transaction.atomic
def officer_signup(
    *, user: User, agency: str = "", country: str = "", job_title: str = "", via: str = "signup"
) -> OfficerProfile:
    """Someone who signed up themselves (form or agency single sign-on) becomes a pending officer."""
    user.groups.add(_officer_group())
    profile, _ = OfficerProfile.objects.get_or_create(
        user=user, defaults={"agency": agency, "country": country, "job_title": job_title}
    )
    audit_record(actor=user, action="officer.signed_up", target=user.email, details={"via": via})
    _deleted_officer_restore(profile)
    return profile


def deleted_officer_digest(email: str) -> str:
    """Keyed (Django's salted HMAC under SECRET_KEY, as coding's coder pseudonyms), so that the table
    cannot be checked against a list of addresses without the key."""
    return salted_hmac("accounts.deleted_officer", email.strip().lower(), algorithm="sha256").hexdigest()


def _deleted_officer_keep(user: User, profile: OfficerProfile | None) -> None:
    """Before an officer account goes: remember its rejection and the editions it answered or holds a
    ballot for, under each of its addresses (signing up again must not undo either)."""
    kept = {
        str(edition_id): status
        for edition_id, status in Participation.objects.filter(
            user=user, status__in=[ParticipationStatus.SUBMITTED, ParticipationStatus.BALLOT_ISSUED]
        ).values_list("edition_id", "status")
    }
    rejected = profile is not None and profile.vetting_status == VettingStatus.REJECTED
    if not kept and not rejected:
        return
    addresses = {user.email, *EmailAddress.objects.filter(user=user).values_list("email", flat=True)}
    for digest in {deleted_officer_digest(a) for a in addresses if a}:
        record, _ = DeletedOfficer.objects.select_for_update().get_or_create(email_digest=digest)
        record.rejected = record.rejected or rejected
        record.participations = {**record.participations, **kept}
        record.save()


def _deleted_officer_restore(profile: OfficerProfile, *, rejection: bool = True) -> None:
    """A new officer account at the address of a deleted one takes over its answers and (unless an
    administrator created it, which is a decision of its own) its rejection."""
    record = DeletedOfficer.objects.filter(email_digest=deleted_officer_digest(profile.user.email)).first()
    if record is None:
        return
    if rejection and record.rejected and profile.vetting_status != VettingStatus.REJECTED:
        profile.vetting_status = VettingStatus.REJECTED
        profile.vetted_via = VettedVia.REVIEW
        profile.rejection_reason = "An earlier account with this address was not accepted."
        profile.save(update_fields=["vetting_status", "vetted_via", "rejection_reason"])
    existing = set(
        Edition.objects.filter(pk__in=[int(k) for k in record.participations]).values_list("pk", flat=True)
    )
    for edition_id, status in record.participations.items():
        if int(edition_id) in existing:
            Participation.objects.update_or_create(
                user=profile.user, edition_id=int(edition_id), defaults={"status": status}
            )


@transaction.atomic
def officer_profile_update(*, user: User, agency: str, country: str, job_title: str) -> OfficerProfile:
    profile = OfficerProfile.objects.select_for_update().get(user=user)
    new = {"agency": agency, "country": country, "job_title": job_title}
    changed = sorted(name for name, value in new.items() if getattr(profile, name) != value)
    for name, value in new.items():
        setattr(profile, name, value)
    profile.save(update_fields=[*new])
    # Which facts changed, not their values: the profile itself is the record of those.
    audit_record(actor=user, action="officer.profile_updated", target=user.email, details={"fields": changed})
    return profile


def _vet(profile: OfficerProfile, *, via: VettedVia, actor: User | None, details: Mapping[str, Any]) -> None:
    profile.vetting_status = VettingStatus.VETTED
    profile.vetted_via = via
    profile.rejection_reason = ""
    profile.save(update_fields=["vetting_status", "vetted_via", "rejection_reason"])
    audit_record(
        actor=actor,
        action="vetting.approved",
        target=profile.user.email,
        details={"via": via.value, **details},
    )
    # Someone vetted while an edition is open is invited like everyone else; the job takes the
    # edition's id only and invites every vetted officer it has not invited yet.
    from accounts.tasks import participations_invite_task

    for edition_id in editions_list(status=EditionStatus.OPEN).values_list("pk", flat=True):
        enqueue_on_commit(participations_invite_task, edition_id)


@transaction.atomic
def officer_vet_by_email_domain(*, user: User) -> AgencyDomain | None:
    """Vet a pending officer whose verified address is on an allowlisted agency domain.

    Returns the matching allowlist entry, or None (nothing changes). Rejected officers stay rejected:
    an administrator's decision is not overturned by a rule."""
    profile = OfficerProfile.objects.select_for_update().select_related("user").filter(user=user).first()
    if profile is None or profile.vetting_status != VettingStatus.PENDING:
        return None
    for address in EmailAddress.objects.filter(user=user, verified=True).order_by("-primary", "pk"):
        rule = selectors.agency_domain_for_email(address.email)
        if rule is not None:
            if not profile.agency and rule.agency:
                profile.agency = rule.agency
                profile.save(update_fields=["agency"])
            _vet(profile, via=VettedVia.EMAIL_DOMAIN, actor=None, details={"rule": rule.pattern})
            return rule
    return None


def _notify_after_commit(name: str, *, to: str, context: Mapping[str, Any]) -> None:
    # Rendered now (the template sees the state we just wrote), sent only once the decision is durable.
    message = render_email(name, to=to, context=context)
    transaction.on_commit(lambda: send_emails([message]))


@transaction.atomic
def officer_vetting_approve(*, profile: OfficerProfile, actor: User) -> OfficerProfile:
    profile = OfficerProfile.objects.select_for_update().select_related("user").get(pk=profile.pk)
    if profile.vetting_status == VettingStatus.VETTED:
        raise VettingError(f"{profile.user.email} is already vetted.")
    _vet(profile, via=VettedVia.REVIEW, actor=actor, details={})
    _notify_after_commit("vetting_approved", to=profile.user.email, context={"profile": profile})
    return profile


@transaction.atomic
def officer_vetting_reject(*, profile: OfficerProfile, actor: User, reason: str) -> OfficerProfile:
    """Reject a pending officer, or withdraw a vetted one's standing. A rejected officer cannot answer."""
    reason = reason.strip()
    if not reason:
        raise VettingError("Give a reason; it is sent to the officer.")
    profile = OfficerProfile.objects.select_for_update().select_related("user").get(pk=profile.pk)
    if profile.vetting_status == VettingStatus.REJECTED:
        raise VettingError(f"{profile.user.email} is already rejected.")
    previous = profile.vetting_status
    profile.vetting_status = VettingStatus.REJECTED
    profile.vetted_via = VettedVia.REVIEW
    profile.rejection_reason = reason
    profile.save(update_fields=["vetting_status", "vetted_via", "rejection_reason"])
    audit_record(
        actor=actor,
        action="vetting.rejected",
        target=profile.user.email,
        details={"reason": reason, "previous": previous},
    )
    _notify_after_commit("vetting_rejected", to=profile.user.email, context={"profile": profile})
    return profile


# --- Agency domain allowlist -----------------------------------------------------------------------


@transaction.atomic
def agency_domain_add(*, pattern: str, agency: str = "", actor: User) -> AgencyDomain:
    pattern = normalise_pattern(pattern)
    if AgencyDomain.objects.filter(pattern=pattern).exists():
        raise ValueError(f"{pattern} is already on the allowlist.")
    domain = AgencyDomain.objects.create(pattern=pattern, agency=agency.strip(), created_by=actor)
    audit_record(actor=actor, action="domain.added", target=pattern, details={"agency": domain.agency})
    return domain


@transaction.atomic
def agency_domain_remove(*, domain: AgencyDomain, actor: User) -> None:
    """Stops future vetting by this domain; officers it already vetted stay vetted."""
    pattern = domain.pattern
    domain.delete()
    audit_record(actor=actor, action="domain.removed", target=pattern)


# --- Roles -----------------------------------------------------------------------------------------


class RoleChangeRefused(Exception):
    pass


@transaction.atomic
def user_role_set(*, user: User, role: Role, granted: bool, actor: User) -> None:
    if not granted and role == Role.ADMINISTRATOR and user.pk == actor.pk:
        raise RoleChangeRefused("You cannot remove your own administrator role; ask another administrator.")
    group, _ = Group.objects.get_or_create(name=role.value)
    if granted == user.groups.filter(pk=group.pk).exists():
        raise RoleChangeRefused(f"{user.email} {'already has' if granted else 'does not have'} that role.")
    if granted:
        user.groups.add(group)
        if role == Role.OFFICER:
            OfficerProfile.objects.get_or_create(user=user)
    else:
        user.groups.remove(group)
    user.__dict__.pop("role_names", None)  # drop the cached roles of this object
    audit_record(
        actor=actor,
        action="role.granted" if granted else "role.revoked",
        target=user.email,
        details={"role": role.value},
    )


class MfaResetRefused(Exception):
    pass


@transaction.atomic
def user_mfa_reset(*, user: User, actor: User) -> int:
    """Remove every authenticator of a staff member who lost theirs and has no recovery code left: at
    the next staff page they must set up a new one (accounts/access.py). Audited, and the person is told
    by e-mail, so a reset they did not ask for does not go unnoticed. Returns how many were removed."""
    if user.pk == actor.pk:
        raise MfaResetRefused("Your own two-factor authentication is reset by another administrator.")
    if not {Role.ADMINISTRATOR.value, Role.ANALYST.value} & set(user.role_names):
        raise MfaResetRefused(f"{user.email} is not an administrator or analyst.")
    removed, _ = Authenticator.objects.filter(user=user).delete()
    if not removed:
        raise MfaResetRefused(f"{user.email} has no two-factor authentication to reset.")
    audit_record(
        actor=actor,
        action="mfa.cleared",
        target=user.email,
        details={"removed": removed},
    )
    _notify_after_commit("mfa_reset", to=user.email, context={"user": user})
    return removed


# --- Account deletion ------------------------------------------------------------------------------


def deleted_user_label(user_id: int) -> str:
    return f"deleted account #{user_id}"


@transaction.atomic
def user_delete(*, user: User, actor: User) -> None:
    """Delete an account: the identity, its profile, addresses, authenticators, tokens and
    participation records (cascades). The anonymous side is never touched: nothing there points
    here, so there is nothing to find.

    Data minimisation: an officer's e-mail is replaced in earlier audit rows by a pseudonym, since
    the trail of an account that no longer exists needs no address. Staff e-mails stay, because
    accountability for what administrators and analysts did outlives their accounts."""
    user = User.objects.select_for_update().get(pk=user.pk)
    roles = sorted(user.role_names)
    if (
        Role.ADMINISTRATOR.value in roles
        and not User.objects.filter(groups__name=Role.ADMINISTRATOR.value, is_active=True)
        .exclude(pk=user.pk)
        .exists()
    ):
        raise RoleChangeRefused(
            "This is the last administrator account; make someone else administrator first."
        )
    is_staff_member = bool({Role.ADMINISTRATOR.value, Role.ANALYST.value} & set(roles))
    label = user.email if is_staff_member else deleted_user_label(user.pk)
    by_self = actor.pk == user.pk
    if Role.OFFICER.value in roles:
        _deleted_officer_keep(user, OfficerProfile.objects.filter(user=user).first())
    if not is_staff_member:
        AuditEvent.objects.filter(actor_email=user.email).update(actor_email=label)
        AuditEvent.objects.filter(target=user.email).update(target=label)
    user.delete()
    audit_record(
        actor=None if by_self else actor,
        action="user.deleted",
        target=label,
        details={"roles": roles, "by": "self" if by_self else "administrator"},
    )


# --- Authentication events (allauth performs them; we record them) ---------------------------------


def _account_label(email: str) -> str:
    """An attempted login names an account only if one exists: whatever else was typed into the
    e-mail field (a mistyped address, sometimes a password) is not worth keeping."""
    email = email.strip().lower()
    return email if email and User.objects.filter(email__iexact=email).exists() else "unknown account"


def login_record(*, user: User, method: str, mfa: bool) -> None:
    audit_record(
        actor=user, action="login.succeeded", target=user.email, details={"method": method, "mfa": mfa}
    )


def login_failure_record(*, email: str) -> None:
    audit_record(actor=None, action="login.failed", target=_account_label(email))


def login_lockout_record(*, email: str) -> None:
    audit_record(actor=None, action="login.locked_out", target=_account_label(email))


def account_event_record(*, user: User, action: str, details: Mapping[str, Any] | None = None) -> None:
    """Password changes and resets, authenticators added or removed, recovery codes used."""
    audit_record(actor=user, action=action, target=user.email, details=details)


# --- Invitations -----------------------------------------------------------------------------------


class InvitationInvalid(Exception):
    """The code cannot be used; the message says why, for the person holding it."""


def invitation_link(code: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("me:invitation_landing", kwargs={"code": code})


@transaction.atomic
def invitations_issue(
    *,
    agency: str,
    count: int,
    max_uses: int,
    expires_at: datetime,
    actor: User,
    email: str = "",
) -> list[tuple[Invitation, str]]:
    """Issue `count` codes sharing one batch; returns each with its code, which is never stored.

    With `email`, the single code is e-mailed (after commit) and only that address may redeem it."""
    agency = agency.strip()
    email = email.strip().lower()
    if not agency:
        raise ValueError("Name the agency the invitation is for.")
    if count < 1 or max_uses < 1:
        raise ValueError("Issue at least one code, usable at least once.")
    if email and count != 1:
        raise ValueError("An invitation sent to one address must be a single code.")
    if expires_at <= timezone.now():
        raise ValueError("The expiry must be in the future.")
    batch = secrets.token_hex(4)
    issued = []
    for _ in range(count):
        code = code_generate()
        invitation = Invitation.objects.create(
            code_digest=code_digest(code),
            code_hint=code_normalise(code)[:4],
            batch=batch,
            agency=agency,
            email=email,
            max_uses=max_uses,
            expires_at=expires_at,
            created_by=actor,
        )
        issued.append((invitation, code))
    audit_record(
        actor=actor,
        action="invitation.issued",
        target=f"batch {batch}",
        details={
            "agency": agency,
            "count": count,
            "max_uses": max_uses,
            "expires_at": expires_at.isoformat(),
            "sent_by_email": bool(email),
        },
    )
    if email:
        invitation, code = issued[0]
        _notify_after_commit(
            "invitation",
            to=email,
            context={"invitation": invitation, "code": code, "link": invitation_link(code)},
        )
    return issued


@transaction.atomic
def invitations_revoke(*, invitations: list[Invitation], actor: User) -> int:
    """Revoke codes (one, or a whole batch). Officers already vetted by them stay vetted."""
    ids = [i.pk for i in invitations]
    revoked = Invitation.objects.filter(pk__in=ids, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if revoked:
        batches = sorted({i.batch for i in invitations})
        audit_record(
            actor=actor,
            action="invitation.revoked",
            target=", ".join(f"batch {b}" for b in batches),
            details={"count": revoked, "codes": sorted(i.code_hint for i in invitations)[:20]},
        )
    return revoked


def invitation_redeem(*, code: str, user: User) -> Invitation:
    """Vet the signed-in pending officer `user` with an invitation code, or raise InvitationInvalid.

    A refused attempt is audited (its own transaction, so the refusal does not roll it back)."""
    try:
        return _invitation_redeem(code=code, user=user)
    except InvitationInvalid as exc:
        audit_record(actor=user, action="invitation.refused", target=user.email, details={"reason": str(exc)})
        raise


@transaction.atomic
def _invitation_redeem(*, code: str, user: User) -> Invitation:
    invitation = Invitation.objects.select_for_update().filter(code_digest=code_digest(code)).first()
    if invitation is None:
        raise InvitationInvalid("This invitation code is not valid. Check it and try again.")
    profile = OfficerProfile.objects.select_for_update().select_related("user").filter(user=user).first()
    if profile is None:
        raise InvitationInvalid("Invitations are for officers' accounts.")
    if profile.vetting_status == VettingStatus.VETTED:
        raise InvitationInvalid("Your account is already vetted; keep the invitation for someone else.")
    if profile.vetting_status == VettingStatus.REJECTED:
        raise InvitationInvalid("Your account was not accepted; an invitation cannot change that.")
    state = invitation.state()
    if state != "valid":
        raise InvitationInvalid(
            {
                "revoked": "This invitation has been withdrawn.",
                "used up": "This invitation has already been used as often as it allows.",
                "expired": "This invitation has expired. Ask for a new one.",
            }[state]
        )
    if invitation.email:
        addresses = {
            e.lower()
            for e in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
        }
        if invitation.email not in addresses:
            raise InvitationInvalid("This invitation was sent to a different e-mail address.")
    Invitation.objects.filter(pk=invitation.pk).update(uses=models.F("uses") + 1)
    invitation.refresh_from_db(fields=["uses"])
    if not profile.agency:
        profile.agency = invitation.agency
        profile.save(update_fields=["agency"])
    _vet(
        profile,
        via=VettedVia.INVITATION,
        actor=user,
        details={"batch": invitation.batch, "invitation_id": invitation.pk},
    )
    return invitation


# --- Agency single sign-on (OpenID Connect through allauth's socialaccount) -------------------------


class ProviderInvalid(ValueError):
    pass


@transaction.atomic
def sso_provider_create(
    *,
    slug: str,
    name: str,
    server_url: str,
    client_id: str,
    secret: str,
    agency: str,
    vetting_rule: SsoVettingRule,
    actor: User,
    country: str = "",
) -> AgencyProvider:
    """Register an agency's OpenID Connect provider. Officers then see "Sign in with <name>" and
    arrive at /accounts/oidc/<slug>/login/callback/ (tell the agency that redirect URI)."""
    from allauth.socialaccount.models import SocialApp

    if SocialApp.objects.filter(provider="openid_connect", provider_id=slug).exists():
        raise ProviderInvalid(f"A provider with the identifier {slug!r} already exists.")
    if not (server_url.startswith("https://") or (settings.DEBUG and server_url.startswith("http://"))):
        raise ProviderInvalid("The issuer URL must use https://.")
    app = SocialApp.objects.create(
        provider="openid_connect",
        provider_id=slug,
        name=name,
        client_id=client_id,
        secret=secret,
        settings={"server_url": server_url},
    )
    provider = AgencyProvider.objects.create(
        app=app, agency=agency, country=country, vetting_rule=vetting_rule
    )
    # Never the client secret.
    audit_record(
        actor=actor,
        action="sso.provider_added",
        target=slug,
        details={"agency": agency, "server_url": server_url, "vetting_rule": vetting_rule.value},
    )
    return provider


@transaction.atomic
def sso_provider_delete(*, provider: AgencyProvider, actor: User) -> None:
    """Stops sign-in through this provider. Accounts created through it stay (with their vetting)."""
    slug = provider.app.provider_id
    provider.app.delete()  # cascades to the AgencyProvider row
    audit_record(actor=actor, action="sso.provider_removed", target=slug)


@transaction.atomic
def officer_vet_by_sso(*, user: User, provider_id: str) -> bool:
    """Apply the agency's rule to an officer who signed in through its provider; True when vetted."""
    provider = AgencyProvider.objects.select_related("app").filter(app__provider_id=provider_id).first()
    profile = OfficerProfile.objects.select_for_update().select_related("user").filter(user=user).first()
    if provider is None or profile is None or profile.vetting_status != VettingStatus.PENDING:
        return False
    if not profile.agency:
        profile.agency, profile.country = provider.agency, profile.country or provider.country
        profile.save(update_fields=["agency", "country"])
    if provider.vetting_rule == SsoVettingRule.TRUSTED:
        _vet(profile, via=VettedVia.SINGLE_SIGN_ON, actor=None, details={"provider": provider_id})
        return True
    if provider.vetting_rule == SsoVettingRule.DOMAINS:
        return officer_vet_by_email_domain(user=user) is not None
    return False


# --- Editions: invitations and reminders by e-mail (Celery jobs in accounts/tasks.py) ---------------
#
# The Participation ledger (a status and a reminded flag, never a time) is what makes these jobs
# idempotent: a second delivery finds nobody left to invite or remind. Each call handles one batch in
# one transaction and over one SMTP connection; if sending fails, the batch rolls back and a retry
# sends it again. Nothing here reads the anonymous side.


def _open_edition_locked(edition_id: int) -> Edition | None:
    # Serialises concurrent deliveries of the same job for one edition.
    return (
        Edition.objects.select_for_update(of=("self",))
        .filter(pk=edition_id, status=EditionStatus.OPEN)
        .first()
    )


def participations_invite(*, edition_id: int, batch_size: int | None = None) -> int:
    """Invite the next batch of vetted officers to an open edition: a Participation row (status
    invited) and an e-mail each. Returns how many; a full batch means more may be waiting."""
    size = batch_size or settings.MAIL_BATCH_SIZE
    with transaction.atomic():
        edition = _open_edition_locked(edition_id)
        if edition is None:
            return 0
        officers = list(selectors.vetted_officers_not_invited(edition)[:size])
        if not officers:
            return 0
        Participation.objects.bulk_create([Participation(user=user, edition=edition) for user in officers])
        starts_later = edition.opens_at is not None and edition.opens_at > timezone.now()
        key = BallotKey.objects.filter(edition=edition).only("fingerprint").first()
        context = {
            "edition": edition,
            "starts_later": starts_later,
            "ballot_fingerprint": key.fingerprint if key else "",
        }
        send_emails(render_email("edition_invitation", to=user.email, context=context) for user in officers)
        audit_record(
            actor=None,
            action="edition.invitations_sent",
            target=str(edition),
            details={"edition_id": edition.pk, "count": len(officers)},
        )
    return len(officers)


def editions_with_officers_to_invite() -> list[int]:
    """Open editions that some vetted officer has not been invited to yet (beat sweep)."""
    return [
        edition.pk
        for edition in editions_list(status=EditionStatus.OPEN)
        if selectors.vetted_officers_not_invited(edition).exists()
    ]


def editions_due_for_reminders(*, now: datetime | None = None) -> list[int]:
    """Open editions that close within REMINDER_DAYS_BEFORE_CLOSE days (0 turns reminders off)."""
    days = settings.REMINDER_DAYS_BEFORE_CLOSE
    if days <= 0:
        return []
    now = now or timezone.now()
    return list(
        editions_list(status=EditionStatus.OPEN)
        .filter(closes_at__gt=now, closes_at__lte=now + timedelta(days=days))
        .values_list("pk", flat=True)
    )


def participations_remind(
    *, edition_id: int, batch_size: int | None = None, now: datetime | None = None
) -> int:
    """Remind, once, the next batch of invited officers who have not answered an edition that is
    about to close. Returns how many; a full batch means more may be waiting."""
    if edition_id not in editions_due_for_reminders(now=now):
        return 0
    size = batch_size or settings.MAIL_BATCH_SIZE
    with transaction.atomic():
        edition = _open_edition_locked(edition_id)
        if edition is None:
            return 0
        # skip_locked: a row being submitted right now is left alone (and is then no longer due).
        due = list(
            Participation.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(
                edition=edition,
                reminded=False,
                status__in=[ParticipationStatus.INVITED, ParticipationStatus.BALLOT_ISSUED],
                user__is_active=True,
                user__officer_profile__vetting_status=VettingStatus.VETTED,
            )
            .select_related("user")
            .order_by("pk")[:size]
        )
        if not due:
            return 0
        Participation.objects.filter(pk__in=[p.pk for p in due]).update(reminded=True)
        send_emails(
            render_email("edition_reminder", to=p.user.email, context={"edition": edition}) for p in due
        )
        audit_record(
            actor=None,
            action="edition.reminders_sent",
            target=str(edition),
            details={"edition_id": edition.pk, "count": len(due)},
        )
    return len(due)
