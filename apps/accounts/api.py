"""REST API for members, invite links and API tokens (same services as the pages)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import selectors, services
from apps.accounts.access import (
    api_token_for_user,
    invite_for_manager,
    membership_for_manager,
    project_for_manager,
)
from apps.accounts.models import ApiToken, Invite, ProjectMembership, ProjectRole
from apps.accounts.services import AccountsError
from apps.core.api import ApiError, Pagination

# --- serializers ----------------------------------------------------------------------


class StrictInputSerializer(serializers.Serializer):
    """Refuses fields it does not accept instead of silently ignoring them, so a client
    that tries to set e.g. `suspended_at` or `uses` learns it cannot."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            refused = sorted(set(data) - writable)
            if refused:
                raise ApiError(
                    "field_not_allowed",
                    f"These fields cannot be set here: {', '.join(refused)}.",
                    details={name: "This field cannot be set." for name in refused},
                )
        return super().to_internal_value(data)


class UserBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()


class MembershipSerializer(serializers.ModelSerializer):
    user = UserBriefSerializer(read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)
    invite_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = ProjectMembership
        fields = ["id", "user", "role", "external_worker_id", "invite_id", "suspended_at", "joined_at"]
        read_only_fields = fields


class MembershipCreateSerializer(StrictInputSerializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=ProjectRole.choices)


class MembershipUpdateSerializer(StrictInputSerializer):
    role = serializers.ChoiceField(choices=ProjectRole.choices)


class InviteSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True, default=None)
    status = serializers.CharField(read_only=True)

    class Meta:
        model = Invite
        fields = [
            "id", "role", "label", "token_prefix", "expires_at", "max_uses", "uses", "status",
            "revoked_at", "created_by", "created_at",
        ]
        read_only_fields = fields


class InviteCreatedSerializer(InviteSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; only its hash is stored.")
    url = serializers.CharField(read_only=True, help_text="The link to share. Append ?worker_id=... for crowd platforms.")

    class Meta(InviteSerializer.Meta):
        fields = [*InviteSerializer.Meta.fields, "token", "url"]
        read_only_fields = fields


class InviteCreateSerializer(StrictInputSerializer):
    role = serializers.ChoiceField(choices=ProjectRole.choices, default=ProjectRole.ANNOTATOR)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    max_uses = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=services.MAX_INVITE_USES)
    label = serializers.CharField(required=False, allow_blank=True, max_length=100)


class TokenSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "is_active", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class TokenCreatedSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; only its hash is stored.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class TokenCreateSerializer(StrictInputSerializer):
    name = serializers.CharField(max_length=100)


# --- views -------------------------------------------------------------------------------


def _api_error(exc: AccountsError) -> ApiError:
    details = {exc.field: exc.message} if exc.field else {}
    return ApiError(exc.code, exc.message, status_code=exc.status_code, details=details)


def _paginated(request: Request, view: APIView, queryset, serializer_class) -> Response:  # type: ignore[no-untyped-def]
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class ProjectMemberListView(APIView):
    """Members of a project and their roles (managers only)."""

    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_manager(request.user, project_id)
        return _paginated(request, self, selectors.project_member_list(project_id=project.pk), MembershipSerializer)

    @extend_schema(request=MembershipCreateSerializer, responses={201: MembershipSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_manager(request.user, project_id)
        data = MembershipCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            membership = services.membership_add(project=project, actor=request.user, **data.validated_data)  # type: ignore[arg-type]
        except AccountsError as exc:
            raise _api_error(exc) from None
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class ProjectMemberDetailView(APIView):
    """Change a member's role or remove them (managers only)."""

    @extend_schema(request=MembershipUpdateSerializer, responses=MembershipSerializer)
    def patch(self, request: Request, project_id: int, membership_id: int) -> Response:
        membership = membership_for_manager(request.user, project_id, membership_id)
        data = MembershipUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            updated = services.membership_set_role(membership=membership, actor=request.user, **data.validated_data)  # type: ignore[arg-type]
        except AccountsError as exc:
            raise _api_error(exc) from None
        return Response(MembershipSerializer(updated).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int, membership_id: int) -> Response:
        membership = membership_for_manager(request.user, project_id, membership_id)
        try:
            services.membership_remove(membership=membership, actor=request.user)  # type: ignore[arg-type]
        except AccountsError as exc:
            raise _api_error(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectInviteListView(APIView):
    """Invite links of a project (managers only). POST returns the token and URL once."""

    @extend_schema(responses=InviteSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_manager(request.user, project_id)
        return _paginated(request, self, selectors.invite_list(project_id=project.pk), InviteSerializer)

    @extend_schema(request=InviteCreateSerializer, responses={201: InviteCreatedSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_manager(request.user, project_id)
        data = InviteCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            invite, token = services.invite_create(project=project, actor=request.user, **data.validated_data)  # type: ignore[arg-type]
        except AccountsError as exc:
            raise _api_error(exc) from None
        invite.token = token  # type: ignore[attr-defined]
        invite.url = request.build_absolute_uri(f"/join/{token}/")  # type: ignore[attr-defined]
        response = Response(InviteCreatedSerializer(invite).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class InviteDetailView(APIView):
    """Revoke an invite link. People who joined with it stay members."""

    @extend_schema(responses={204: None})
    def delete(self, request: Request, invite_id: int) -> Response:
        invite = invite_for_manager(request.user, invite_id)
        services.invite_revoke(invite=invite, actor=request.user)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListView(APIView):
    """The caller's API tokens. Keys are never listed: POST returns the new key once."""

    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        return _paginated(request, self, selectors.api_token_list(user=request.user), TokenSerializer)  # type: ignore[arg-type]

    @extend_schema(request=TokenCreateSerializer, responses={201: TokenCreatedSerializer})
    def post(self, request: Request) -> Response:
        data = TokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token, key = services.api_token_create(user=request.user, name=data.validated_data["name"])  # type: ignore[arg-type]
        except AccountsError as exc:
            raise _api_error(exc) from None
        token.key = key  # type: ignore[attr-defined]
        response = Response(TokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class TokenDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        token = api_token_for_user(request.user, token_id)  # type: ignore[arg-type]
        services.api_token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
