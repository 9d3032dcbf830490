"""REST views for auth, workspaces, members, invites and the event log."""
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from collab_project.api.views import WorkspaceScopedView, idempotency_key, validated, write_response
from collab_project.jsonutil import user_ref
from workspaces import selectors, services
from workspaces.representations import invite_dict, member_dict, workspace_dict
from workspaces.serializers import (
    EventPageSerializer, InviteCreateSerializer, InviteOutSerializer, JoinOutSerializer, JoinSerializer,
    MemberAddSerializer, MemberOutSerializer, MemberRoleSerializer, RegisterSerializer, TransferSerializer,
    UserRefSerializer, WorkspaceCreateSerializer, WorkspaceOutSerializer, WorkspaceUpdateSerializer,
)


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [AnonRateThrottle]

    @extend_schema(request=RegisterSerializer, responses={201: UserRefSerializer})
    def post(self, request):
        user = services.user_register(**validated(RegisterSerializer, request.data))
        return Response(user_ref(user), status=201)


class MeSerializer(UserRefSerializer):
    email = serializers.EmailField()


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response({**user_ref(request.user), "email": request.user.email})


class WorkspaceListView(generics.GenericAPIView):
    @extend_schema(responses=WorkspaceOutSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.workspace_list(user=request.user))
        return self.get_paginated_response([workspace_dict(m.workspace, m.role) for m in page])

    @extend_schema(request=WorkspaceCreateSerializer, responses={201: WorkspaceOutSerializer})
    def post(self, request):
        data = validated(WorkspaceCreateSerializer, request.data)
        return write_response(services.workspace_create(actor=request.user, op_id=idempotency_key(request), **data))


class WorkspaceDetailView(WorkspaceScopedView):
    min_roles = {"PATCH": "admin", "DELETE": "owner"}

    @extend_schema(responses=WorkspaceOutSerializer)
    def get(self, request, ws):
        return Response(workspace_dict(self.membership.workspace, self.membership.role))

    @extend_schema(request=WorkspaceUpdateSerializer, responses=WorkspaceOutSerializer)
    def patch(self, request, ws):
        data = validated(WorkspaceUpdateSerializer, request.data)
        return write_response(services.workspace_update(
            actor=request.user, workspace_id=ws, op_id=idempotency_key(request), **data))

    @extend_schema(responses={204: None})
    def delete(self, request, ws):
        return write_response(services.workspace_delete(
            actor=request.user, workspace_id=ws, op_id=idempotency_key(request)))


class WorkspaceTransferView(WorkspaceScopedView):
    min_roles = {"POST": "owner"}

    @extend_schema(request=TransferSerializer, responses=WorkspaceOutSerializer)
    def post(self, request, ws):
        data = validated(TransferSerializer, request.data)
        return write_response(services.workspace_transfer(
            actor=request.user, workspace_id=ws, op_id=idempotency_key(request), **data))


class MemberListView(WorkspaceScopedView):
    @extend_schema(responses=MemberOutSerializer(many=True))
    def get(self, request, ws):
        return Response([member_dict(m) for m in selectors.member_list(user=request.user, workspace_id=ws)])

    @extend_schema(request=MemberAddSerializer, responses={201: MemberOutSerializer})
    def post(self, request, ws):
        data = validated(MemberAddSerializer, request.data)
        return write_response(services.member_add(
            actor=request.user, workspace_id=ws, op_id=idempotency_key(request), **data))


class MemberDetailView(WorkspaceScopedView):
    @extend_schema(request=MemberRoleSerializer, responses=MemberOutSerializer)
    def patch(self, request, ws, user_id):
        data = validated(MemberRoleSerializer, request.data)
        return write_response(services.member_role_change(
            actor=request.user, workspace_id=ws, user_id=user_id, op_id=idempotency_key(request), **data))

    @extend_schema(responses={204: None})
    def delete(self, request, ws, user_id):
        return write_response(services.member_remove(
            actor=request.user, workspace_id=ws, user_id=user_id, op_id=idempotency_key(request)))


def _invite_url(request, token: str) -> str:
    return request.build_absolute_uri(reverse("join-page", kwargs={"token": token}))


class InviteListView(WorkspaceScopedView, generics.GenericAPIView):
    # Creating is checked by the service: asking for an owner invite is 400 whoever asks.
    min_roles = {"GET": "admin"}

    @extend_schema(responses=InviteOutSerializer(many=True))
    def get(self, request, ws):
        page = self.paginate_queryset(selectors.invite_list(user=request.user, workspace_id=ws))
        return self.get_paginated_response([invite_dict(i) for i in page])

    @extend_schema(request=InviteCreateSerializer, responses={201: InviteOutSerializer})
    def post(self, request, ws):
        data = validated(InviteCreateSerializer, request.data)
        invite, token = services.invite_create(actor=request.user, workspace_id=ws, **data)
        return Response(invite_dict(invite, token=token, url=_invite_url(request, token)), status=201)


class InviteDetailView(WorkspaceScopedView):
    min_roles = {"DELETE": "admin"}

    @extend_schema(responses={204: None})
    def delete(self, request, ws, invite_id):
        services.invite_revoke(actor=request.user, workspace_id=ws, invite_id=invite_id)
        return Response(status=204)


class JoinView(APIView):
    @extend_schema(request=JoinSerializer, responses=JoinOutSerializer)
    def post(self, request):
        data = validated(JoinSerializer, request.data)
        result = services.invite_accept(actor=request.user, **data)
        return Response(result.data, status=200)


def _query_int(request, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        from collab_project.errors import invalid_field

        raise invalid_field(name, "Must be an integer.") from None
    value = max(low, value)
    return min(high, value) if high is not None else value


class EventListView(WorkspaceScopedView):
    @extend_schema(
        parameters=[OpenApiParameter("since", int), OpenApiParameter("limit", int)],
        responses=EventPageSerializer,
    )
    def get(self, request, ws):
        since = _query_int(request, "since", 0, 0)
        limit = _query_int(request, "limit", 100, 1, 1000)
        results, has_more = selectors.event_list(user=request.user, workspace_id=ws, since=since, limit=limit)
        return Response({"results": results, "has_more": has_more})
