"""allauth hooks: where sign-ups become pending officers and lockouts reach the audit log.

The adapters only translate allauth's events into calls of accounts/services.py.
"""

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import HttpRequest

from accounts import services


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "too_many_login_attempts": (
            "Too many failed attempts to log in to this account: it is locked for "
            f"{settings.LOGIN_LOCKOUT_MINUTES} minutes. Resetting your password unlocks it now."
        ),
    }

    def save_user(
        self, request: HttpRequest, user: AbstractBaseUser, form: BaseForm, commit: bool = True
    ) -> AbstractBaseUser:
        from accounts.forms import OfficerSignupForm

        user = super().save_user(request, user, form, commit=commit)
        if commit and isinstance(form, OfficerSignupForm):
            data = form.cleaned_data
            services.officer_signup(
                user=user,  # type: ignore[arg-type]
                agency=data.get("agency", ""),
                country=data.get("country", ""),
                job_title=data.get("job_title", ""),
            )
        return user

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            services.login_lockout_record(email=str(credentials.get("email", "")))
            raise


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> Any:
        """An officer arriving through an agency's identity provider for the first time."""
        user = super().save_user(request, sociallogin, form)
        services.officer_signup(user=user, via="single_sign_on")
        return user
