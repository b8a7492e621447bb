from django.urls import path

from apps.audit import views

app_name = "audit"
urlpatterns = [
    path("organizations/<int:organization_id>/audit/", views.organization_audit, name="organization"),
]
