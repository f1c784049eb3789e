from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import Role


class IsAdministrator(BasePermission):
    message = "Only administrators may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_role(Role.ADMINISTRATOR))


class IsStaff(BasePermission):
    """Administrators and analysts."""

    message = "Only administrators and analysts may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and (user.has_role(Role.ADMINISTRATOR) or user.has_role(Role.ANALYST))
        )


class IsVettedOfficer(BasePermission):
    message = "Only vetted officers can answer."

    def has_permission(self, request: Request, view: Any) -> bool:
        from accounts.selectors import user_is_vetted_officer

        return bool(request.user and request.user.is_authenticated and user_is_vetted_officer(request.user))
