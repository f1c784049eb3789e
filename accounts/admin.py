from django.contrib import admin

from accounts.models import AuditEvent, OfficerProfile, User


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
