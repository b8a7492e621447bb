from django.urls import path

from apps.annotations import api

app_name = "annotations_api"
urlpatterns = [
    path("projects/<int:project_id>/next/", api.NextItemView.as_view(), name="next"),
    path("projects/<int:project_id>/pause/", api.PauseView.as_view(), name="pause"),
    path("projects/<int:project_id>/resume/", api.ResumeView.as_view(), name="resume"),
    path("assignments/<int:assignment_id>/", api.AssignmentView.as_view(), name="assignment"),
    path("assignments/<int:assignment_id>/draft/", api.DraftView.as_view(), name="draft"),
    path("assignments/<int:assignment_id>/submit/", api.SubmitView.as_view(), name="submit"),
    path("assignments/<int:assignment_id>/skip/", api.SkipView.as_view(), name="skip"),
    path("assignments/<int:assignment_id>/flag/", api.FlagView.as_view(), name="flag"),
    path("assignments/<int:assignment_id>/heartbeat/", api.HeartbeatView.as_view(), name="heartbeat"),
]
