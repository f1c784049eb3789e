"""Staff pages of the identity side, under /staff/people/ (administrators; the token page also analysts)."""

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.index, name="index"),
    path("vetting/", views.vetting_queue, name="vetting_queue"),
    path("vetting/<int:profile_id>/approve/", views.vetting_approve, name="vetting_approve"),
    path("vetting/<int:profile_id>/reject/", views.vetting_reject, name="vetting_reject"),
    path("domains/", views.domain_list, name="domain_list"),
    path("domains/<int:domain_id>/remove/", views.domain_remove, name="domain_remove"),
    path("invitations/", views.invitation_list, name="invitation_list"),
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("sso/", views.sso_provider_list, name="sso_provider_list"),
    path("sso/<int:provider_id>/delete/", views.sso_provider_delete, name="sso_provider_delete"),
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/<str:digest>/revoke/", views.token_revoke, name="token_revoke"),
    path("roles/", views.roles, name="roles"),
    path("roles/<int:user_id>/mfa-reset/", views.mfa_reset, name="mfa_reset"),
    path("audit/", views.audit_log, name="audit_log"),
]
