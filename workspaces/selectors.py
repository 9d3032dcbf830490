"""Scoped reads of workspaces, members, invites and the event log."""
from collab_project.errors import Gone
from django.conf import settings

from workspaces.access import access_membership
from workspaces.models import Event, Invite, Membership, Role
from workspaces.representations import event_dict


def membership_get(*, user, workspace_id, min_role: str = Role.VIEWER) -> Membership:
    return access_membership(user=user, workspace_id=workspace_id, min_role=min_role)


def workspace_list(*, user):
    return Membership.objects.filter(user=user).select_related("workspace", "workspace__owner").order_by(
        "workspace__created_at", "workspace__id")


def member_list(*, user, workspace_id) -> list[Membership]:
    membership = access_membership(user=user, workspace_id=workspace_id)
    return list(Membership.objects.filter(workspace=membership.workspace).select_related("user"))


def invite_list(*, user, workspace_id):
    membership = access_membership(user=user, workspace_id=workspace_id, min_role=Role.ADMIN)
    return Invite.objects.filter(workspace=membership.workspace).order_by("-created_at", "id")


def events_after(*, workspace_id, last_seq: int, since: int, limit: int) -> tuple[list[dict], bool]:
    """Events with seq > since, oldest first, for a caller already checked.

    Raises Gone(resync_required) when `since` is older than the kept log.
    """
    if since < last_seq - settings.EVENT_LOG_KEEP:
        raise Gone("Events after that seq were pruned; reload the workspace.", code="resync_required")
    rows = list(Event.objects.filter(workspace_id=workspace_id, seq__gt=since).select_related("actor")
                .order_by("seq")[: limit + 1])
    if rows and rows[0].seq != since + 1:
        # `last_seq` was read before a write that pruned past `since`: never answer with a gap.
        raise Gone("Events after that seq were pruned; reload the workspace.", code="resync_required")
    return [event_dict(e) for e in rows[:limit]], len(rows) > limit


def event_list(*, user, workspace_id, since: int, limit: int) -> tuple[list[dict], bool]:
    membership = access_membership(user=user, workspace_id=workspace_id)
    return events_after(workspace_id=membership.workspace_id, last_seq=membership.workspace.last_seq,
                        since=since, limit=limit)
