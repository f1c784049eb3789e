from django.urls import path

from exports import views

app_name = "exports"
urlpatterns = [
    path("", views.export_list, name="list"),
    path("<uuid:job_id>/", views.export_detail, name="detail"),
    path("<uuid:job_id>/status/", views.export_status, name="status"),
    path("<uuid:job_id>/download/<str:token>/", views.export_download, name="download"),
    path("<uuid:job_id>/review/", views.export_review, name="review"),
    path("<uuid:job_id>/review/approve/", views.export_review_approve, name="review_approve"),
    path("<uuid:job_id>/review/<uuid:answer_id>/", views.export_review_answer, name="review_answer"),
]
