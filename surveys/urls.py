from django.urls import path

from surveys import views

app_name = "surveys"
urlpatterns = [
    path("editions/", views.edition_list, name="edition_list"),
    path("editions/import/", views.edition_import, name="edition_import"),
    path("editions/<int:edition_id>/", views.edition_detail, name="edition_detail"),
    path("editions/<int:edition_id>/preview/", views.edition_preview, name="edition_preview"),
    path(
        "editions/<int:edition_id>/definition.json",
        views.edition_definition_download,
        name="edition_definition",
    ),
    path("editions/<int:edition_id>/replace/", views.edition_replace, name="edition_replace"),
    path("editions/<int:edition_id>/open/", views.edition_open, name="edition_open"),
    path("editions/<int:edition_id>/close/", views.edition_close, name="edition_close"),
    path("editions/<int:edition_id>/archive/", views.edition_archive, name="edition_archive"),
    path("editions/<int:edition_id>/delete/", views.edition_delete, name="edition_delete"),
]
