"""Notifications: written in the transaction of the change that causes them,
delivered to every socket of the user after commit.

Nobody is notified of their own action, and one change gives one user at
most one notification (the first that applies of task_assigned,
task_completed, mentioned, task_updated).
"""
import re
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from collab_project import broadcast
from collab_project.errors import NotFound
from collab_project.jsonutil import user_ref
from notifications.models import Notification, NotificationType as T
from notifications.representations import notification_dict
from workspaces.models import Membership, Role

MENTION = re.compile(r"(?<![\w@])@([\w.@+-]{1,150})")
MAX_MENTIONS = 50


def _deliver(notification: Notification) -> None:
    payload = {"type": "notification", "data": notification_dict(notification)}
    transaction.on_commit(lambda: broadcast.send_to_user(notification.user_id, "user.notification", payload))


def notification_create(*, actor, user, workspace, type: str, title: str, message: str = "",
                        data: dict | None = None) -> Notification | None:
    """Write one notification for `user` (never for the actor) and deliver it after commit."""
    if user is None:
        return None
    return _notify(actor=actor, user_id=user.pk, workspace=workspace, type=type, title=title, message=message,
                   data=data)


def _notify(*, actor, user_id: int, workspace, type: str, title: str, message: str = "",
            data: dict | None = None) -> Notification | None:
    if actor is not None and user_id == actor.pk:
        return None
    notification = Notification.objects.create(
        user_id=user_id, workspace=workspace, type=type, title=title[:300], message=message, data=data or {}
    )
    _deliver(notification)
    return notification


def _mentioned_members(workspace, *texts: str) -> set[int]:
    """Ids of the members named `@username` in the texts (sentence punctuation
    after the name is not part of it); no query when nobody is named.

    Usernames are unique case-insensitively (registration checks), so `@Bob` finds bob.
    """
    names = {name.rstrip(".").lower() for text in texts for name in MENTION.findall(text or "")}
    names = sorted(n for n in names if n)[:MAX_MENTIONS]
    if not names:
        return set()
    query = Q()
    for name in names:
        query |= Q(user__username__iexact=name)
    return set(Membership.objects.filter(query, workspace=workspace).values_list("user_id", flat=True))


def _members_among(workspace, user_ids) -> set[int]:
    """Those of the ids who are members now (a task's creator may have left)."""
    ids = {pk for pk in user_ids if pk is not None}
    if not ids:
        return set()
    return set(Membership.objects.filter(workspace=workspace, user_id__in=ids).values_list("user_id", flat=True))


def notifications_for_task_change(*, actor, task, before: dict | None, changed: list[str]) -> None:
    """Notify about a created (before is None) or updated task.

    By user id: writing a notification needs no user row, so none is read;
    with nobody to notify (no assignee, no mention, not completed) no query runs.
    """
    workspace = task.workspace
    chosen: dict[int, str] = {}

    def offer(user_id, kind):
        if user_id is not None and user_id != actor.pk and user_id not in chosen:
            chosen[user_id] = kind

    creating = before is None
    if task.assigned_to_id and (creating or "assigned_to" in changed):
        offer(task.assigned_to_id, T.TASK_ASSIGNED)
    if not creating and "status" in changed and task.status == "done":
        offer(task.created_by_id, T.TASK_COMPLETED)
        offer(task.assigned_to_id, T.TASK_COMPLETED)
    old_mentions = set() if creating else _mentioned_members(workspace, before.get("title"), before.get("description"))
    if creating or {"title", "description"} & set(changed):
        for pk in sorted(_mentioned_members(workspace, task.title, task.description) - old_mentions):
            offer(pk, T.MENTIONED)
    if not creating and changed and task.assigned_to_id:
        offer(task.assigned_to_id, T.TASK_UPDATED)

    # Nobody outside the workspace hears about its tasks.
    members = _members_among(workspace, chosen)
    who = actor.username
    texts = {
        T.TASK_ASSIGNED: (f"{who} assigned you “{task.title}”", "A task in {ws} is now yours."),
        T.TASK_COMPLETED: (f"{who} completed “{task.title}”", "Marked done in {ws}."),
        T.MENTIONED: (f"{who} mentioned you in “{task.title}”", "You were mentioned in {ws}."),
        T.TASK_UPDATED: (f"{who} updated “{task.title}”", "Changed: {fields}."),
    }
    for user_id, kind in chosen.items():
        if user_id not in members:
            continue
        title, message = texts[kind]
        _notify(
            actor=actor, user_id=user_id, workspace=workspace, type=kind, title=title,
            message=message.format(ws=workspace.name, fields=", ".join(changed)),
            data={"task_id": str(task.id), "workspace_id": str(workspace.id), "changed": changed,
                  "actor": user_ref(actor)},
        )


def notifications_for_member_change(*, actor, workspace, user, kind: str, role: str | None = None) -> None:
    """Notify `user` (added, role changed, removed) and, on a join, the owner and admins."""
    data = {"workspace_id": str(workspace.id), "user_id": user.pk, "role": role, "actor": user_ref(actor)}
    if kind == T.ADDED_TO_WORKSPACE:
        notification_create(actor=actor, user=user, workspace=workspace, type=kind,
                            title=f"{actor.username} added you to {workspace.name}", message=f"Your role: {role}.",
                            data=data)
    elif kind == T.ROLE_CHANGED:
        notification_create(actor=actor, user=user, workspace=workspace, type=kind,
                            title=f"Your role in {workspace.name} is now {role}", data=data)
    elif kind == T.REMOVED_FROM_WORKSPACE:
        notification_create(actor=actor, user=user, workspace=workspace, type=kind,
                            title=f"You were removed from {workspace.name}", data=data)
    elif kind == T.MEMBER_JOINED:
        managers = Membership.objects.filter(workspace=workspace, role__in=[Role.OWNER, Role.ADMIN]).exclude(
            user=user).select_related("user")
        for membership in managers:
            notification_create(actor=actor, user=membership.user, workspace=workspace, type=kind,
                                title=f"{user.username} joined {workspace.name}", message=f"Role: {role}.",
                                data=data)


def notification_mark_read(*, actor, notification_id) -> Notification:
    from workspaces.access import parse_uuid

    with transaction.atomic():
        notification = Notification.objects.select_for_update().filter(
            pk=parse_uuid(notification_id), user=actor).first()
        if notification is None:
            raise NotFound()
        if notification.read_at is None:
            notification.read_at = timezone.now()
            notification.save(update_fields=["read_at"])
        return notification


def notification_mark_all_read(*, actor) -> int:
    with transaction.atomic():
        return Notification.objects.filter(user=actor, read_at__isnull=True).update(read_at=timezone.now())


def notifications_prune(*, actor=None, older_than_days: int = 30) -> int:
    """Delete read notifications older than the given age; unread ones are kept."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    with transaction.atomic():
        deleted, _ = Notification.objects.filter(read_at__isnull=False, created_at__lt=cutoff).delete()
    return deleted


User = get_user_model()
