"""Workspace, membership and invite writes. Each service is one transaction
that writes the change and its event; events are published after commit.
(@idempotent is the transaction of the services it wraps.)"""
import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from collab_project.errors import Conflict, Forbidden, Gone, NotFound, invalid_field
from notifications.models import NotificationType
from notifications.services import notifications_for_member_change
from workspaces import events
from workspaces.access import access_membership, parse_uuid
from workspaces.idempotency import WriteResult, idempotent
from workspaces.models import Invite, Membership, Role, Workspace
from workspaces.representations import member_dict, workspace_dict

User = get_user_model()
GRANTABLE = (Role.VIEWER, Role.MEMBER, Role.ADMIN)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_grantable(actor_role: str, role: str) -> None:
    """Admins grant viewer and member; only the owner grants admin; nobody grants owner."""
    if role not in GRANTABLE:
        raise invalid_field("role", "Must be viewer, member or admin.")
    if actor_role not in (Role.ADMIN, Role.OWNER):
        raise Forbidden()
    if role == Role.ADMIN and actor_role != Role.OWNER:
        raise Forbidden("Only the owner can grant the admin role.")


def _check_can_manage(actor_role: str, target_role: str) -> None:
    """Admins manage viewers and members; the owner manages everyone but itself."""
    if target_role == Role.OWNER:
        raise Forbidden("Nobody can change or remove the owner.")
    if actor_role == Role.OWNER:
        return
    if actor_role != Role.ADMIN or target_role == Role.ADMIN:
        raise Forbidden()


def _target_membership(workspace, user_id) -> Membership:
    text = str(user_id) if isinstance(user_id, (int, str)) and not isinstance(user_id, bool) else ""
    # ASCII digits only: int() would also read "１" or " 1 " as user 1.
    if not (text.isascii() and text.isdigit()):
        raise NotFound()
    pk = int(text)
    if not 0 < pk < 2**31:  # beyond any user id; SQLite would overflow on it
        raise NotFound()
    membership = Membership.objects.select_related("user").filter(workspace=workspace, user_id=pk).first()
    if membership is None:
        raise NotFound()
    return membership


@idempotent
def workspace_create(*, actor, name: str, description: str = "", settings: dict | None = None,
                     op_id: str | None = None) -> WriteResult:
    """Create a workspace owned by the actor. No event: the log starts empty."""
    workspace = Workspace.objects.create(name=name, description=description, settings=settings or {}, owner=actor)
    Membership.objects.create(workspace=workspace, user=actor, role=Role.OWNER)
    return WriteResult(workspace_dict(workspace, Role.OWNER), None, 201)


@idempotent
def workspace_update(*, actor, workspace_id, op_id: str | None = None, **fields) -> WriteResult:
    """Change name, description or settings (admin or owner); emits workspace.updated."""
    membership = access_membership(user=actor, workspace_id=workspace_id, min_role=Role.ADMIN, for_write=True)
    workspace = membership.workspace
    for name in ("name", "description", "settings"):
        if name in fields:
            setattr(workspace, name, fields[name])
    workspace.save(update_fields=["name", "description", "settings", "updated_at"])
    recorded = events.event_record(workspace=workspace, type=events.WORKSPACE_UPDATED, actor=actor,
                                   data=workspace_dict(workspace), op_id=op_id)
    return WriteResult(workspace_dict(workspace, membership.role), recorded.seq)


@idempotent
def workspace_delete(*, actor, workspace_id, op_id: str | None = None) -> WriteResult:
    """Delete the workspace (owner only); emits workspace.deleted, which closes its sockets."""
    membership = access_membership(user=actor, workspace_id=workspace_id, min_role=Role.OWNER, for_write=True)
    workspace = membership.workspace
    recorded = events.event_record(workspace=workspace, type=events.WORKSPACE_DELETED, actor=actor,
                                   data={"id": str(workspace.id)}, op_id=op_id)
    workspace.delete()
    return WriteResult(None, recorded.seq, 204)


@idempotent
def workspace_transfer(*, actor, workspace_id, user_id, op_id: str | None = None) -> WriteResult:
    """Make a member the owner; the old owner becomes an admin."""
    membership = access_membership(user=actor, workspace_id=workspace_id, min_role=Role.OWNER, for_write=True)
    workspace = membership.workspace
    target = Membership.objects.select_related("user").filter(workspace=workspace, user_id=user_id).first()
    if target is None or target.user_id == actor.pk:
        raise invalid_field("user_id", "Must be another member of this workspace.")
    membership.role = Role.ADMIN
    membership.save(update_fields=["role"])
    target.role = Role.OWNER
    target.save(update_fields=["role"])
    workspace.owner = target.user
    workspace.save(update_fields=["owner", "updated_at"])
    for changed in (membership, target):
        events.event_record(workspace=workspace, type=events.MEMBER_ROLE_CHANGED, actor=actor,
                            data=events.member_event_data(changed.user, changed.role), op_id=op_id)
    recorded = events.event_record(workspace=workspace, type=events.WORKSPACE_UPDATED, actor=actor,
                                   data=workspace_dict(workspace), op_id=op_id)
    notifications_for_member_change(actor=actor, workspace=workspace, user=target.user,
                                    kind=NotificationType.ROLE_CHANGED, role=Role.OWNER)
    return WriteResult(workspace_dict(workspace, Role.ADMIN), recorded.seq)


def _join(*, actor, workspace, user, role: str, op_id: str | None) -> tuple[Membership, int]:
    membership = Membership.objects.create(workspace=workspace, user=user, role=role)
    recorded = events.event_record(workspace=workspace, type=events.MEMBER_JOINED, actor=actor,
                                   data=events.member_event_data(user, role), op_id=op_id)
    if actor.pk != user.pk:
        notifications_for_member_change(actor=actor, workspace=workspace, user=user,
                                        kind=NotificationType.ADDED_TO_WORKSPACE, role=role)
    notifications_for_member_change(actor=actor, workspace=workspace, user=user,
                                    kind=NotificationType.MEMBER_JOINED, role=role)
    return membership, recorded.seq


@idempotent
def member_add(*, actor, workspace_id, username: str, role: str = Role.MEMBER, op_id: str | None = None) -> WriteResult:
    """Add an existing user directly, with the same rank rules as invites."""
    membership = access_membership(user=actor, workspace_id=workspace_id, min_role=Role.VIEWER, for_write=True)
    _check_grantable(membership.role, role)
    user = User.objects.filter(username=username).first()
    if user is None:
        raise invalid_field("username", "No user with that username.")
    if Membership.objects.filter(workspace=membership.workspace, user=user).exists():
        raise invalid_field("username", "Already a member of this workspace.")
    added, seq = _join(actor=actor, workspace=membership.workspace, user=user, role=role, op_id=op_id)
    return WriteResult(member_dict(added), seq, 201)


@idempotent
def member_role_change(*, actor, workspace_id, user_id, role: str, op_id: str | None = None) -> WriteResult:
    """Change a member's role; admins among viewer and member, the owner among all but owner."""
    membership = access_membership(user=actor, workspace_id=workspace_id, min_role=Role.VIEWER, for_write=True)
    if role not in GRANTABLE:
        raise invalid_field("role", "Must be viewer, member or admin.")
    target = _target_membership(membership.workspace, user_id)
    _check_can_manage(membership.role, target.role)
    _check_grantable(membership.role, role)
    if target.role == role:
        return WriteResult(member_dict(target), membership.workspace.last_seq)
    target.role = role
    target.save(update_fields=["role"])
    recorded = events.event_record(workspace=membership.workspace, type=events.MEMBER_ROLE_CHANGED, actor=actor,
                                   data=events.member_event_data(target.user, role), op_id=op_id)
    notifications_for_member_change(actor=actor, workspace=membership.workspace, user=target.user,
                                    kind=NotificationType.ROLE_CHANGED, role=role)
    return WriteResult(member_dict(target), recorded.seq)


@idempotent
def member_remove(*, actor, workspace_id, user_id, op_id: str | None = None) -> WriteResult:
    """Remove a member, or leave when it is the actor. Their tasks are unassigned."""
    from tasks.services import tasks_unassign_user

    membership = access_membership(user=actor, workspace_id=workspace_id, min_role=Role.VIEWER, for_write=True)
    workspace = membership.workspace
    target = _target_membership(workspace, user_id)
    leaving = target.pk == membership.pk
    if leaving and target.role == Role.OWNER:
        raise Conflict("The owner must transfer ownership before leaving.", code="owner_must_transfer")
    if not leaving:
        _check_can_manage(membership.role, target.role)
    tasks_unassign_user(actor=actor, workspace=workspace, user=target.user, op_id=op_id)
    target.delete()
    recorded = events.event_record(workspace=workspace, type=events.MEMBER_REMOVED, actor=actor,
                                   data=events.member_event_data(target.user, target.role), op_id=op_id)
    if not leaving:
        notifications_for_member_change(actor=actor, workspace=workspace, user=target.user,
                                        kind=NotificationType.REMOVED_FROM_WORKSPACE, role=target.role)
    return WriteResult(None, recorded.seq, 204)


@transaction.atomic
def invite_create(*, actor, workspace_id, role: str = Role.MEMBER, max_uses: int | None = None,
                  expires_in_hours: float | None = 168) -> tuple[Invite, str]:
    """Create an invite; returns it with its token, which is shown only now."""
    membership = access_membership(user=actor, workspace_id=workspace_id, min_role=Role.VIEWER)
    _check_grantable(membership.role, role)
    token = secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(hours=expires_in_hours) if expires_in_hours is not None else None
    invite = Invite.objects.create(workspace=membership.workspace, token_hash=token_hash(token), role=role,
                                   max_uses=max_uses, expires_at=expires_at, created_by=actor)
    return invite, token


@transaction.atomic
def invite_revoke(*, actor, workspace_id, invite_id) -> Invite:
    """Revoke an invite (admin or owner; admin invites only by the owner)."""
    membership = access_membership(user=actor, workspace_id=workspace_id, min_role=Role.ADMIN)
    invite = Invite.objects.select_for_update().filter(pk=parse_uuid(invite_id), workspace=membership.workspace).first()
    if invite is None:
        raise NotFound()
    _check_grantable(membership.role, invite.role)
    if not invite.revoked:
        invite.revoked = True
        invite.save(update_fields=["revoked"])
    return invite


def invite_find(token) -> Invite:
    if not isinstance(token, str) or not token:
        raise NotFound()
    invite = Invite.objects.select_related("workspace", "workspace__owner").filter(token_hash=token_hash(token)).first()
    if invite is None:
        raise NotFound()
    return invite


def invite_check_usable(invite: Invite) -> None:
    if invite.revoked:
        raise Gone("This invite was revoked.", code="invite_revoked")
    if invite.expires_at is not None and invite.expires_at <= timezone.now():
        raise Gone("This invite has expired.", code="invite_expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise Gone("This invite has been used up.", code="invite_exhausted")


@transaction.atomic
def invite_accept(*, actor, token: str) -> WriteResult:
    """Join a workspace by invite. A member joining again changes nothing."""
    invite = invite_find(token)
    workspace = Workspace.objects.select_for_update().select_related("owner").get(pk=invite.workspace_id)
    existing = Membership.objects.filter(workspace=workspace, user=actor).first()
    if existing is not None:
        return WriteResult({"workspace": workspace_dict(workspace, existing.role), "role": existing.role},
                           workspace.last_seq)
    invite_check_usable(invite)
    claimed = Invite.objects.filter(pk=invite.pk).filter(
        Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses"))).update(uses=F("uses") + 1)
    if not claimed:
        raise Gone("This invite has been used up.", code="invite_exhausted")
    try:
        with transaction.atomic():
            _, seq = _join(actor=actor, workspace=workspace, user=actor, role=invite.role, op_id=None)
    except IntegrityError:
        raise Conflict("Already a member.") from None
    return WriteResult({"workspace": workspace_dict(workspace, invite.role), "role": invite.role}, seq)


@transaction.atomic
def user_register(*, actor=None, username: str, password: str, email: str = ""):
    """Create a user account (the web signup and the API both come here)."""
    taken = invalid_field("username", "A user with that username already exists.")
    if User.objects.filter(username__iexact=username).exists():
        raise taken
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, password=password, email=email or "")
    except IntegrityError:  # the same name registered concurrently
        raise taken from None
