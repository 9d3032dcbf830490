"""Django admin: inspect notifications.

Read-only like the workspaces admin: notifications are written by the
services in the transaction of the change that causes them, and removed by
`manage.py prune_notifications`; an admin edit would bypass both.
"""
from django.contrib import admin

from notifications.models import Notification


class ReadFilter(admin.SimpleListFilter):
    title = "read"
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return (("yes", "Read"), ("no", "Unread"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(read_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(read_at__isnull=True)
        return queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "type", "title", "workspace", "read_at")
    list_filter = ("type", ReadFilter, ("user", admin.RelatedOnlyFieldListFilter),
                   ("workspace", admin.RelatedOnlyFieldListFilter))
    search_fields = ("title", "message", "user__username", "workspace__name")
    list_select_related = ("user", "workspace")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    fields = ("id", "user", "workspace", "type", "title", "message", "data", "created_at", "read_at")
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
