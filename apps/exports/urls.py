from django.urls import path

from apps.exports import views

app_name = "exports"
urlpatterns = [
    path("projects/<int:project_id>/exports/", views.export_page, name="page"),
    path("projects/<int:project_id>/exports/preview/", views.export_preview_view, name="preview"),
    path("projects/<int:project_id>/exports/<int:export_id>/", views.export_detail, name="detail"),
    path("projects/<int:project_id>/exports/<int:export_id>/cancel/", views.export_cancel_view, name="cancel"),
    path("projects/<int:project_id>/exports/<int:export_id>/download/", views.export_download, name="download"),
]
