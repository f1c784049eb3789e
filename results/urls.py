from django.urls import path

from results import views

app_name = "results"
urlpatterns = [
    path("<int:edition_id>/", views.results_page, name="page"),
    path("<int:edition_id>/report/", views.report, name="report"),
    path("<int:edition_id>/items/<str:item_code>.csv", views.item_csv, name="item_csv"),
    path("<int:edition_id>/compare/<int:previous_id>/", views.compare, name="compare"),
    path("<int:edition_id>/quotes/hidden/", views.hidden_quotes, name="hidden_quotes"),
    path("<int:edition_id>/quotes/<uuid:answer_id>/hide/", views.quote_hide_view, name="quote_hide"),
    path("<int:edition_id>/quotes/<uuid:answer_id>/show/", views.quote_show_view, name="quote_show"),
]
