from django.urls import path

from apps.annotations import views

app_name = "annotations"
urlpatterns = [
    path("projects/<int:project_id>/annotate/", views.workspace, name="workspace"),
    path("projects/<int:project_id>/annotate/next/", views.workspace_next, name="next"),
    path("projects/<int:project_id>/annotate/pause/", views.workspace_pause, name="pause"),
    path("projects/<int:project_id>/annotate/resume/", views.workspace_resume, name="resume"),
    path(
        "projects/<int:project_id>/annotate/feedback/<int:annotation_id>/", views.training_feedback, name="feedback"
    ),
    path("projects/<int:project_id>/annotate/guidelines/", views.guidelines_confirm, name="guidelines_confirm"),
    path("projects/<int:project_id>/annotate/preferences/", views.preferences, name="preferences"),
]
