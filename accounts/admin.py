from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.http import HttpRequest

from accounts.access import session_passed_mfa
from accounts.models import AuditEvent, OfficerProfile, User

# The Django admin is an operator's tool (is_staff accounts only). Its own login would skip allauth's
# MFA step, so it sends people through allauth's login, and it opens only for a session that passed MFA.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
_admin_has_permission = admin.site.has_permission


def _has_permission_with_mfa(request: HttpRequest) -> bool:
    return _admin_has_permission(request) and session_passed_mfa(request)


admin.site.has_permission = _has_permission_with_mfa  # type: ignore[method-assign]


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["email", "is_active", "is_staff"]
    search_fields = ["email"]
    exclude = ["password"]


@admin.register(OfficerProfile)
class OfficerProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "vetting_status", "agency", "country"]
    list_filter = ["vetting_status"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_email", "action", "target"]
    list_filter = ["action"]

    # Append-only: nobody edits or deletes the audit trail through the admin.
    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
