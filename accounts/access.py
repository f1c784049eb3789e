"""The one place that decides whether a request may reach a staff page (thin views call it first)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import Role, User

STAFF_ROLES = (Role.ADMINISTRATOR, Role.ANALYST)


def user_is_staff(user: User) -> bool:
    return user.is_authenticated and any(user.has_role(role) for role in STAFF_ROLES)


def session_passed_mfa(request: HttpRequest) -> bool:
    """Whether this session's login included a second factor (allauth records each step it saw).

    allauth's login flow makes everyone with an authenticator pass it, so a staff session without an
    "mfa" record is one whose owner has none yet, or one that began before they added it."""
    if not settings.STAFF_MFA_REQUIRED:  # only `make run`'s look-around demo; refused without DEBUG
        return True
    user = request.user
    return any(
        record.get("method") == "mfa"
        for record in get_authentication_records(request, user)  # type: ignore[arg-type]
    )


def staff_mfa_redirect(request: HttpRequest) -> HttpResponse | None:
    """None when the staff member's session passed MFA; otherwise where to go to pass it."""
    if session_passed_mfa(request):
        return None
    has_authenticator = Authenticator.objects.filter(
        user_id=request.user.pk, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()
    query = urlencode({"next": request.get_full_path()})
    if not has_authenticator:
        messages.warning(
            request,
            "Administrators and analysts must set up two-factor authentication before using staff "
            "pages. Scan the code with an authenticator app, then enter the code it shows.",
        )
        return redirect(f"{reverse('mfa_activate_totp')}?{query}")
    messages.info(request, "Confirm it is you with your authenticator app to open staff pages.")
    return redirect(f"{reverse('mfa_reauthenticate')}?{query}")


def role_required(*roles: Role) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Anonymous visitors go to the login page; a logged-in user without one of `roles` gets 403.

    Whoever gets in through a staff role (administrator, analyst) must also have passed MFA in this
    session; otherwise they are sent to set up an authenticator or to confirm with it."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            granted = [role for role in roles if user.has_role(role)]  # type: ignore[union-attr]
            if not granted:
                raise PermissionDenied
            if all(role in STAFF_ROLES for role in granted):
                detour = staff_mfa_redirect(request)
                if detour is not None:
                    return detour
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def vetted_officer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Officer pages: anonymous visitors log in first; anyone but a vetted officer gets 403."""
    from accounts.selectors import user_is_vetted_officer

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user_is_vetted_officer(request.user):  # type: ignore[arg-type]
            raise PermissionDenied("Your account has not been vetted yet.")
        return view(request, *args, **kwargs)

    return wrapper
