"""REST view of who is online in a workspace."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from presence.selectors import presence_list


class _UserRef(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class PresenceOutSerializer(serializers.Serializer):
    user = _UserRef()
    status = serializers.ChoiceField(choices=["active", "idle"])
    viewing = serializers.UUIDField(allow_null=True)
    since = serializers.DateTimeField()


class PresenceListView(APIView):
    @extend_schema(responses=PresenceOutSerializer(many=True), summary="Members online now (a plain list)")
    def get(self, request, ws):
        return Response(presence_list(user=request.user, workspace_id=ws))
