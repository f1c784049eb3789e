from django.urls import path

from results import views

app_name = "results"
urlpatterns = [
    path("<int:edition_id>/", views.results_page, name="page"),
    path("<int:edition_id>/report/", views.report, name="report"),
    path("<int:edition_id>/items/<str:item_code>.csv", views.item_csv, name="item_csv"),
    path("<int:edition_id>/compare/<int:previous_id>/", views.compare, name="compare"),
]
