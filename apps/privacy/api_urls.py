from django.urls import path

from apps.privacy import api

app_name = "privacy_api"
urlpatterns = [
    path("projects/<int:project_id>/privacy/", api.ProjectPrivacyView.as_view(), name="summary"),
    path("projects/<int:project_id>/privacy/scans/", api.ProjectPrivacyScanView.as_view(), name="scans"),
]
