"""The signed-in person's own pages (any role): vetting facts, account deletion, invitations."""

from django.urls import path

from accounts import views

app_name = "me"
urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("profile/delete/", views.account_delete, name="account_delete"),
    path("invite/", views.invitation_redeem, name="invitation_redeem"),
    path("invite/<str:code>/", views.invitation_landing, name="invitation_landing"),
]
