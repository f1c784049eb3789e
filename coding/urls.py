from django.urls import path

from coding import views

app_name = "coding"
urlpatterns = [
    path("editions/<int:edition_id>/", views.edition_codebooks, name="edition"),
    path("editions/<int:edition_id>/items/<slug:item_code>/", views.item_screen, name="item"),
    path("editions/<int:edition_id>/items/<slug:item_code>/codebook/", views.codebook_edit, name="codebook"),
    path("editions/<int:edition_id>/items/<slug:item_code>/runs/", views.run_start, name="run_start"),
    path(
        "editions/<int:edition_id>/items/<slug:item_code>/answers/<uuid:answer_id>/codes/",
        views.answer_code,
        name="answer_code",
    ),
    path(
        "editions/<int:edition_id>/items/<slug:item_code>/answers/<uuid:answer_id>/adjudicate/",
        views.answer_adjudicate,
        name="answer_adjudicate",
    ),
]
