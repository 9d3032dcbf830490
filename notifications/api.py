"""REST views for the caller's own notifications."""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications import selectors, services
from notifications.representations import notification_dict


class NotificationOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    title = serializers.CharField()
    message = serializers.CharField()
    data = serializers.JSONField()
    workspace = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class UpdatedSerializer(serializers.Serializer):
    updated = serializers.IntegerField()


class NotificationListView(generics.GenericAPIView):
    @extend_schema(parameters=[OpenApiParameter("unread", bool)], responses=NotificationOutSerializer(many=True))
    def get(self, request):
        unread = request.query_params.get("unread", "").lower() in {"1", "true", "yes"}
        page = self.paginate_queryset(selectors.notification_list(user=request.user, unread=unread))
        return self.get_paginated_response([notification_dict(n) for n in page])


class NotificationReadView(APIView):
    @extend_schema(request=None, responses=NotificationOutSerializer)
    def post(self, request, notification_id):
        notification = services.notification_mark_read(actor=request.user, notification_id=notification_id)
        return Response(notification_dict(notification))


class NotificationReadAllView(APIView):
    @extend_schema(request=None, responses=UpdatedSerializer)
    def post(self, request):
        return Response({"updated": services.notification_mark_all_read(actor=request.user)})
