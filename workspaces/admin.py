"""Django admin: inspect workspaces, members, invites, the event log and
idempotency records.

Read-only by design. Every change of a workspace, a membership or a task is
an event in the workspace's log, written by a service acting as a member of
that workspace; an admin save would change the row without its event (and
sockets and the log would disagree), and a superuser is usually no member
to act as. So changes go through the API, the web pages or the services
(e.g. `manage.py shell`), and the admin shows what they did. The invite
token hash is never shown: it is not needed to manage an invite and is one
step from the token.
"""
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from workspaces.models import Event, Invite, Membership, OperationRecord, Workspace


class ReadOnlyAdminMixin:
    """View permission only: changelists and change pages render, nothing saves."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Membership
    fields = ("user", "role", "joined_at")
    readonly_fields = fields
    extra = 0


INVITE_FIELDS = ("id", "workspace", "role", "max_uses", "uses", "expires_at", "revoked", "created_by", "created_at")


class InviteInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Invite
    fields = tuple(f for f in INVITE_FIELDS if f != "workspace")
    readonly_fields = fields
    exclude = ("token_hash",)
    extra = 0


@admin.register(Workspace)
class WorkspaceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "owner", "member_count", "last_seq", "created_at", "updated_at")
    search_fields = ("name", "description", "owner__username")
    list_filter = ("created_at",)
    fields = ("id", "name", "description", "settings", "owner", "last_seq", "created_at", "updated_at", "browse")
    readonly_fields = fields
    inlines = (MembershipInline, InviteInline)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner").annotate(member_count=Count("memberships"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj):
        return obj.member_count

    @admin.display(description="browse")
    def browse(self, obj):
        tasks = reverse("admin:tasks_task_changelist") + f"?workspace__id__exact={obj.pk}"
        events = reverse("admin:workspaces_event_changelist") + f"?workspace__id__exact={obj.pk}"
        return format_html('<a href="{}">tasks</a> · <a href="{}">event log</a>', tasks, events)


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "workspace", "role", "joined_at")
    list_filter = ("role",)
    search_fields = ("user__username", "workspace__name")
    list_select_related = ("user", "workspace")
    fields = ("workspace", "user", "role", "joined_at")
    readonly_fields = fields


@admin.register(Invite)
class InviteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "workspace", "role", "uses", "max_uses", "expires_at", "revoked", "created_by")
    list_filter = ("role", "revoked")
    search_fields = ("workspace__name", "created_by__username")
    list_select_related = ("workspace", "created_by")
    fields = INVITE_FIELDS
    readonly_fields = fields
    exclude = ("token_hash",)


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("workspace", "seq", "type", "actor", "op_id", "ts")
    list_filter = ("type", "workspace")
    search_fields = ("workspace__name", "type", "op_id")
    list_select_related = ("workspace", "actor")
    ordering = ("workspace", "-seq")
    fields = ("workspace", "seq", "type", "actor", "op_id", "ts", "data")
    readonly_fields = fields


@admin.register(OperationRecord)
class OperationRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "key", "http_status", "seq", "created_at")
    search_fields = ("user__username", "key")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    fields = ("user", "key", "http_status", "seq", "result", "created_at")
    readonly_fields = fields


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class CollabUserAdmin(UserAdmin):
    """Django's user admin, except that deleting a workspace member is refused:
    the cascade would drop memberships without their member.removed events.
    Remove the user from their workspaces (or deactivate them) first."""

    def has_delete_permission(self, request, obj=None):
        if obj is None:
            # Bulk delete would not look at each user's memberships.
            return False
        return super().has_delete_permission(request, obj) and not Membership.objects.filter(user=obj).exists()
