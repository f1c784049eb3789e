"""Signal receivers: allauth and Django report authentication events; each receiver calls one service.

Connected in AccountsConfig.ready(). No rules here: the services decide what is recorded and what
a login or a verified address changes.
"""

from typing import Any

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.contrib import messages
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from accounts import services
from accounts.access import session_passed_mfa
from accounts.codes import PENDING_INVITATION_SESSION_KEY


@receiver(account_signals.user_logged_in)
def on_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    sociallogin = kwargs.get("sociallogin")
    services.login_record(
        user=user,
        method="single_sign_on" if sociallogin is not None else "password",
        mfa=session_passed_mfa(request),
    )
    # An officer arriving through an agency's identity provider is vetted by that agency's rule.
    if sociallogin is not None:
        services.officer_vet_by_sso(user=user, provider_id=sociallogin.account.provider)
    # An allowlist entry added after this officer signed up vouches for them from their next login.
    services.officer_vet_by_email_domain(user=user)
    # An invitation link opened before signing up or in is redeemed now.
    code = request.session.pop(PENDING_INVITATION_SESSION_KEY, None) if request is not None else None
    if code:
        try:
            services.invitation_redeem(code=code, user=user)
        except services.InvitationInvalid as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Your invitation was accepted: your account is vetted.")


@receiver(user_login_failed)
def on_login_failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
    services.login_failure_record(email=str(credentials.get("email", "")))


@receiver(account_signals.email_confirmed)
def on_email_confirmed(sender: Any, email_address: Any, **kwargs: Any) -> None:
    services.officer_vet_by_email_domain(user=email_address.user)


@receiver(account_signals.password_changed)
def on_password_changed(sender: Any, user: Any, **kwargs: Any) -> None:
    services.account_event_record(user=user, action="password.changed")


@receiver(account_signals.password_set)
def on_password_set(sender: Any, user: Any, **kwargs: Any) -> None:
    services.account_event_record(user=user, action="password.set")


@receiver(account_signals.password_reset)
def on_password_reset(sender: Any, user: Any, **kwargs: Any) -> None:
    services.account_event_record(user=user, action="password.reset")


@receiver(mfa_signals.authenticator_added)
def on_authenticator_added(sender: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    services.account_event_record(user=user, action="mfa.added", details={"type": authenticator.type})


@receiver(mfa_signals.authenticator_removed)
def on_authenticator_removed(sender: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    services.account_event_record(user=user, action="mfa.removed", details={"type": authenticator.type})


@receiver(mfa_signals.authenticator_reset)
def on_authenticator_reset(sender: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    services.account_event_record(user=user, action="mfa.reset", details={"type": authenticator.type})


@receiver(mfa_signals.authenticator_used)
def on_authenticator_used(sender: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    # Routine code entries are part of "login.succeeded"; a spent recovery code is worth its own row.
    if authenticator.type == "recovery_codes":
        services.account_event_record(user=user, action="mfa.recovery_code_used")


@receiver(mfa_signals.authentication_failed)
def on_mfa_failed(sender: Any, user: Any, **kwargs: Any) -> None:
    services.account_event_record(user=user, action="mfa.failed")
