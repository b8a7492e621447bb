from django.urls import path

from apps.sampling import api

app_name = "sampling_api"
urlpatterns = [
    path("model-endpoints/", api.EndpointListCreateView.as_view(), name="endpoints"),
    path("model-endpoints/<int:endpoint_id>/", api.EndpointDetailView.as_view(), name="endpoint"),
    path("model-endpoints/<int:endpoint_id>/test/", api.EndpointTestView.as_view(), name="endpoint-test"),
    path("projects/<int:project_id>/generation-runs/", api.RunListCreateView.as_view(), name="runs"),
    path("generation-runs/<int:run_id>/", api.RunDetailView.as_view(), name="run"),
    path("generation-runs/<int:run_id>/cancel/", api.RunCancelView.as_view(), name="run-cancel"),
    path("generation-runs/<int:run_id>/resume/", api.RunResumeView.as_view(), name="run-resume"),
    path("generation-runs/<int:run_id>/outputs/", api.RunOutputsView.as_view(), name="run-outputs"),
    path("projects/<int:project_id>/sampling-plans/", api.PlanListCreateView.as_view(), name="plans"),
    path(
        "projects/<int:project_id>/sampling-plans/preview/",
        api.ProjectPlanPreviewView.as_view(),
        name="plans-preview",
    ),
    path("sampling-plans/<int:plan_id>/", api.PlanDetailView.as_view(), name="plan"),
    path("sampling-plans/<int:plan_id>/preview/", api.PlanPreviewView.as_view(), name="plan-preview"),
    path("sampling-plans/<int:plan_id>/run/", api.PlanRunView.as_view(), name="plan-run"),
    path("sampling-plans/<int:plan_id>/executions/", api.PlanExecutionsView.as_view(), name="plan-executions"),
]
