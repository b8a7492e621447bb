from django.urls import path

from apps.accounts import api

app_name = "accounts_api"
urlpatterns = [
    path("projects/<int:project_id>/members/", api.ProjectMemberListView.as_view(), name="project_members"),
    path(
        "projects/<int:project_id>/members/<int:membership_id>/",
        api.ProjectMemberDetailView.as_view(),
        name="project_member",
    ),
    path("projects/<int:project_id>/invites/", api.ProjectInviteListView.as_view(), name="project_invites"),
    path("invites/<int:invite_id>/", api.InviteDetailView.as_view(), name="invite"),
    path("tokens/", api.TokenListView.as_view(), name="tokens"),
    path("tokens/<int:token_id>/", api.TokenDetailView.as_view(), name="token"),
]
