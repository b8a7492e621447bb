from django.urls import path

from apps.projects import api

app_name = "projects_api"
urlpatterns = [
    path("projects/", api.ProjectListCreateView.as_view(), name="list"),
    path("projects/<int:project_id>/", api.ProjectDetailView.as_view(), name="detail"),
    path("templates/", api.TemplateListView.as_view(), name="templates"),
]
