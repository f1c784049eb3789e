"""The signed-in person's own pages (any role): vetting facts, account deletion, invitations."""

from django.urls import path

from accounts import views

app_name = "me"
urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("profile/delete/", views.account_delete, name="account_delete"),
]
