"""Tasks in the Django admin: searchable and filterable, read-only.

A task change is a `task.updated` event with a version bump, written by
`tasks.services.task_update` for a member; see workspaces/admin.py for why
the admin does not write.
"""
from django.contrib import admin

from tasks.models import Task
from workspaces.admin import ReadOnlyAdminMixin


@admin.register(Task)
class TaskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("title", "workspace", "status", "priority", "assigned_to", "due_date", "version", "updated_at")
    list_filter = ("status", "priority", "workspace", "assigned_to")
    search_fields = ("title", "description")
    list_select_related = ("workspace", "assigned_to")
    fields = ("id", "workspace", "title", "description", "status", "priority", "due_date", "assigned_to",
              "position", "created_by", "version", "field_versions", "created_at", "updated_at")
    readonly_fields = fields
