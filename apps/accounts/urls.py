"""Account pages. Mounted at "/" because they span /accounts/, /join/, /projects/<id>/members/
and /organizations/<id>/members/."""

from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import member_views, views

app_name = "accounts"
urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/tokens/", views.token_list, name="tokens"),
    path("accounts/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("join/<str:token>/", views.join, name="join"),
    path("projects/<int:project_id>/members/", member_views.project_members, name="project_members"),
    path("projects/<int:project_id>/members/add/", member_views.project_member_add, name="project_member_add"),
    path(
        "projects/<int:project_id>/members/<int:membership_id>/role/",
        member_views.project_member_role,
        name="project_member_role",
    ),
    path(
        "projects/<int:project_id>/members/<int:membership_id>/remove/",
        member_views.project_member_remove,
        name="project_member_remove",
    ),
    path("projects/<int:project_id>/invites/", member_views.invite_create, name="invite_create"),
    path(
        "projects/<int:project_id>/invites/<int:invite_id>/revoke/",
        member_views.invite_revoke,
        name="invite_revoke",
    ),
    path("organizations/<int:organization_id>/members/", member_views.org_members, name="org_members"),
    path(
        "organizations/<int:organization_id>/members/<int:membership_id>/role/",
        member_views.org_member_role,
        name="org_member_role",
    ),
    path(
        "organizations/<int:organization_id>/members/<int:membership_id>/remove/",
        member_views.org_member_remove,
        name="org_member_remove",
    ),
]
