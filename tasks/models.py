import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length

from workspaces.models import Workspace

models.TextField.register_lookup(Length)


class Status(models.TextChoices):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.TODO)
    priority = models.PositiveSmallIntegerField(default=0)
    due_date = models.DateField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="assigned_tasks"
    )
    position = models.FloatField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="created_tasks"
    )
    version = models.PositiveIntegerField(default=1)
    # field name -> the version at which it last changed; drives field-level merge.
    field_versions = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "created_at"]
        indexes = [models.Index(fields=["workspace", "position"])]
        constraints = [
            models.CheckConstraint(condition=~Q(title=""), name="task_title_not_empty"),
            models.CheckConstraint(condition=Q(priority__lte=3), name="task_priority_range"),
            models.CheckConstraint(condition=Q(version__gte=1), name="task_version_positive"),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in Status]), name="task_status_valid"),
            models.CheckConstraint(condition=Q(description__length__lte=20000), name="task_description_length"),
        ]

    def __str__(self) -> str:
        return self.title

