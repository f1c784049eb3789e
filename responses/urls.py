from django.urls import path

from responses import views

app_name = "responses"
urlpatterns = [
    path("portal/", views.portal_home, name="portal"),
    path("portal/<int:edition_id>/", views.questionnaire, name="questionnaire"),
    path("anonymity/", views.anonymity, name="anonymity"),
    path("receipts/<int:edition_id>/", views.receipt_check, name="receipt_check"),
]
