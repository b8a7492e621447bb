from django.urls import path

from apps.projects import views

app_name = "projects"
urlpatterns = [
    path("", views.project_list, name="list"),
    path("new/", views.project_new, name="new"),
    path("<int:project_id>/", views.project_detail, name="detail"),
    path("<int:project_id>/settings/", views.project_settings, name="settings"),
    path("<int:project_id>/archive/", views.project_archive, name="archive"),
    path("<int:project_id>/unarchive/", views.project_unarchive, name="unarchive"),
    path("<int:project_id>/delete/", views.project_delete, name="delete"),
    path("<int:project_id>/guidelines/", views.guidelines, name="guidelines"),
    path("<int:project_id>/guidelines/preview/", views.guidelines_preview, name="guidelines_preview"),
    path("<int:project_id>/guidelines/history/", views.guidelines_history, name="guidelines_history"),
    path("<int:project_id>/guidelines/v<int:version>/", views.guidelines_version, name="guidelines_version"),
    path("<int:project_id>/questions/", views.questions, name="questions"),
    path("<int:project_id>/questions/preview/", views.questions_preview, name="questions_preview"),
]
