from django.urls import path

from apps.audit import api

app_name = "audit_api"
urlpatterns = [
    path("organizations/<int:organization_id>/audit/", api.OrganizationAuditView.as_view(), name="organization"),
]
