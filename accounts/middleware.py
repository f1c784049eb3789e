"""The REST API accepts a staff member's browser session only once that session has passed MFA.

Staff pages enforce MFA in accounts/access.py::role_required; API views are DRF views whose
SessionAuthentication reads the Django-level user. Without this, a staff password alone (before the
person has set up an authenticator) would reach the administrative API through the session cookie.
API tokens are unaffected: they can only be created by `createuser` or on the MFA-gated token page.
"""

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from rest_framework.views import APIView

from accounts.access import session_passed_mfa, user_is_staff


class StaffSessionMFAMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> None:
        view_class = getattr(view_func, "cls", None)
        if not (isinstance(view_class, type) and issubclass(view_class, APIView)):
            return
        user = request.user
        if user_is_staff(user) and not session_passed_mfa(request):  # type: ignore[arg-type]
            # The session is ignored for this request; a token in the Authorization header still works.
            request.user = AnonymousUser()
