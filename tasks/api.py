"""REST views for tasks."""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.response import Response

from collab_project.api.views import WorkspaceScopedView, idempotency_key, validated, write_response
from tasks import selectors, services
from tasks.representations import task_dict
from tasks.serializers import TaskCreateSerializer, TaskListQuerySerializer, TaskOutSerializer, TaskUpdateSerializer


class TaskListView(WorkspaceScopedView, generics.GenericAPIView):
    min_roles = {"POST": "member"}

    @extend_schema(
        parameters=[OpenApiParameter("status", str), OpenApiParameter("assigned_to", int),
                    OpenApiParameter("q", str)],
        responses=TaskOutSerializer(many=True),
    )
    def get(self, request, ws):
        query = validated(TaskListQuerySerializer, request.query_params)
        unassigned = "assigned_to" in query and query["assigned_to"] is None
        tasks = selectors.task_list(user=request.user, workspace_id=ws, status=query.get("status"),
                                    assigned_to=query.get("assigned_to"), unassigned=unassigned, q=query.get("q"))
        page = self.paginate_queryset(tasks)
        return self.get_paginated_response([task_dict(t) for t in page])

    @extend_schema(request=TaskCreateSerializer, responses={201: TaskOutSerializer})
    def post(self, request, ws):
        data = validated(TaskCreateSerializer, request.data)
        return write_response(services.task_create(
            actor=request.user, workspace_id=ws, op_id=idempotency_key(request), **data))


class TaskDetailView(WorkspaceScopedView):
    min_roles = {"PATCH": "member", "DELETE": "member"}

    @extend_schema(responses=TaskOutSerializer)
    def get(self, request, ws, task_id):
        return Response(task_dict(selectors.task_get(user=request.user, workspace_id=ws, task_id=task_id)))

    @extend_schema(request=TaskUpdateSerializer, responses=TaskOutSerializer)
    def patch(self, request, ws, task_id):
        data = validated(TaskUpdateSerializer, request.data, partial=False)
        return write_response(services.task_update(
            actor=request.user, workspace_id=ws, task_id=task_id, op_id=idempotency_key(request), **data))

    @extend_schema(responses={204: None})
    def delete(self, request, ws, task_id):
        return write_response(services.task_delete(
            actor=request.user, workspace_id=ws, task_id=task_id, op_id=idempotency_key(request)))
