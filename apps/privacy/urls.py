from django.urls import path

from apps.privacy import views

app_name = "privacy"
urlpatterns = [
    path("projects/<int:project_id>/privacy/", views.privacy_page, name="page"),
    path("projects/<int:project_id>/privacy/policy/", views.privacy_policy, name="policy"),
    path("projects/<int:project_id>/privacy/scan/", views.privacy_scan, name="scan"),
]
