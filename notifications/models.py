import uuid

from django.conf import settings
from django.db import models


class NotificationType(models.TextChoices):
    TASK_ASSIGNED = "task_assigned"
    TASK_UPDATED = "task_updated"
    TASK_COMPLETED = "task_completed"
    MENTIONED = "mentioned"
    ADDED_TO_WORKSPACE = "added_to_workspace"
    ROLE_CHANGED = "role_changed"
    REMOVED_FROM_WORKSPACE = "removed_from_workspace"
    MEMBER_JOINED = "member_joined"


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    # Kept when the workspace goes, so a removal or deletion can still be read about.
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    type = models.CharField(max_length=40, choices=NotificationType.choices)
    title = models.CharField(max_length=300)
    message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} for {self.user}"
