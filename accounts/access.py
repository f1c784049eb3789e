"""The one place that decides whether a request may reach a staff page (thin views call it first)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.models import Role


def role_required(*roles: Role) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Anonymous visitors go to the login page; a logged-in user without one of `roles` gets 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not any(user.has_role(role) for role in roles):  # type: ignore[union-attr]
                raise PermissionDenied
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
