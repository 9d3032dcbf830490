from django.urls import path

from notifications.consumers import MeConsumer
from workspaces.consumers import WorkspaceConsumer

websocket_urlpatterns = [
    path("ws/workspaces/<str:workspace_id>/", WorkspaceConsumer.as_asgi()),
    path("ws/me/", MeConsumer.as_asgi()),
]
