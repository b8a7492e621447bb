from django.urls import path

from apps.exports import api

app_name = "exports_api"
urlpatterns = [
    path("projects/<int:project_id>/exports/", api.ProjectExportsApi.as_view(), name="project-exports"),
    path("projects/<int:project_id>/exports/preview/", api.ProjectExportPreviewApi.as_view(), name="preview"),
    path("exports/<int:export_id>/", api.ExportDetailApi.as_view(), name="detail"),
    path("exports/<int:export_id>/cancel/", api.ExportCancelApi.as_view(), name="cancel"),
    path("exports/<int:export_id>/download/", api.ExportDownloadApi.as_view(), name="download"),
]
