from django.contrib import admin
from django.urls import include, path

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("staff/coding/", include("coding.urls")),
    path("staff/", include("surveys.urls")),
    path("staff/results/", include("results.urls")),
    path("staff/exports/", include("exports.urls")),
    path("staff/people/", include("accounts.urls")),
    path("", include("accounts.officer_urls")),
    path("api/v1/", include("api.urls")),
    path("", include("responses.urls")),
    path("django-admin/", admin.site.urls),
]

# 503 with Retry-After while the database is unreachable, the usual 500 page otherwise.
handler500 = "config.errors.server_error_or_unavailable"
