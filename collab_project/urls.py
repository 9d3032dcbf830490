from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from collab_project import ops
from notifications import api as notification_api
from presence import api as presence_api
from tasks import api as task_api
from workspaces import api as workspace_api

handler404 = "collab_project.api.errors.json_not_found"
handler500 = "collab_project.api.errors.json_server_error"

WS = "api/workspaces/<str:ws>/"

api_patterns = [
    path("api/auth/register/", workspace_api.RegisterView.as_view(), name="register"),
    path("api/auth/token/", TokenObtainPairView.as_view(), name="token"),
    path("api/auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("api/auth/me/", workspace_api.MeView.as_view(), name="me"),
    path("api/workspaces/", workspace_api.WorkspaceListView.as_view(), name="workspace-list"),
    path("api/workspaces/join/", workspace_api.JoinView.as_view(), name="workspace-join"),
    path(WS, workspace_api.WorkspaceDetailView.as_view(), name="workspace-detail"),
    path(WS + "transfer/", workspace_api.WorkspaceTransferView.as_view(), name="workspace-transfer"),
    path(WS + "members/", workspace_api.MemberListView.as_view(), name="member-list"),
    path(WS + "members/<str:user_id>/", workspace_api.MemberDetailView.as_view(), name="member-detail"),
    path(WS + "invites/", workspace_api.InviteListView.as_view(), name="invite-list"),
    path(WS + "invites/<str:invite_id>/", workspace_api.InviteDetailView.as_view(), name="invite-detail"),
    path(WS + "tasks/", task_api.TaskListView.as_view(), name="task-list"),
    path(WS + "tasks/<str:task_id>/", task_api.TaskDetailView.as_view(), name="task-detail"),
    path(WS + "events/", workspace_api.EventListView.as_view(), name="event-list"),
    path(WS + "presence/", presence_api.PresenceListView.as_view(), name="presence-list"),
    path("api/notifications/", notification_api.NotificationListView.as_view(), name="notification-list"),
    path("api/notifications/read-all/", notification_api.NotificationReadAllView.as_view(),
         name="notification-read-all"),
    path("api/notifications/<str:notification_id>/read/", notification_api.NotificationReadView.as_view(),
         name="notification-read"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("metrics", ops.metrics_view, name="metrics"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
] + api_patterns + [
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("workspaces.pages_urls")),
]
