from django.urls import path

from apps.sampling.views import endpoints, plans, runs

app_name = "sampling"
urlpatterns = [
    path("model-endpoints/", endpoints.endpoint_list, name="endpoints"),
    path("model-endpoints/<int:endpoint_id>/", endpoints.endpoint_edit, name="endpoint_edit"),
    path("model-endpoints/<int:endpoint_id>/test/", endpoints.endpoint_test, name="endpoint_test"),
    path("model-endpoints/<int:endpoint_id>/archive/", endpoints.endpoint_archive, name="endpoint_archive"),
    path("projects/<int:project_id>/generation-runs/", runs.run_list, name="runs"),
    path("projects/<int:project_id>/generation-runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("projects/<int:project_id>/generation-runs/<int:run_id>/cancel/", runs.run_cancel, name="run_cancel"),
    path("projects/<int:project_id>/generation-runs/<int:run_id>/resume/", runs.run_resume, name="run_resume"),
    path("projects/<int:project_id>/sampling-plans/", plans.plan_list, name="plans"),
    path("projects/<int:project_id>/sampling-plans/preview/", plans.plan_preview, name="plan_preview"),
    path("projects/<int:project_id>/sampling-plans/<int:plan_id>/", plans.plan_detail, name="plan_detail"),
    path("projects/<int:project_id>/sampling-plans/<int:plan_id>/run/", plans.plan_run, name="plan_run"),
    path("projects/<int:project_id>/sampling-plans/<int:plan_id>/toggle/", plans.plan_toggle, name="plan_toggle"),
]
