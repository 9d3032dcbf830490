"""How workspace objects look on the wire (REST bodies, events, acks)."""
from collab_project.jsonutil import iso, user_ref
from workspaces.models import Event, Invite, Membership, Workspace


def workspace_dict(workspace: Workspace, role: str | None = None) -> dict:
    data = {
        "id": str(workspace.id),
        "name": workspace.name,
        "description": workspace.description,
        "settings": workspace.settings,
        "owner": user_ref(workspace.owner),
        "created_at": iso(workspace.created_at),
        "updated_at": iso(workspace.updated_at),
    }
    if role is not None:
        data["role"] = role
    return data


def member_dict(membership: Membership) -> dict:
    return {"user": user_ref(membership.user), "role": membership.role, "joined_at": iso(membership.joined_at)}


def invite_dict(invite: Invite, *, token: str | None = None, url: str | None = None) -> dict:
    data = {
        "id": str(invite.id),
        "role": invite.role,
        "max_uses": invite.max_uses,
        "uses": invite.uses,
        "expires_at": iso(invite.expires_at),
        "revoked": invite.revoked,
        "created_at": iso(invite.created_at),
    }
    if token is not None:
        data["token"] = token
        data["url"] = url
    return data


def event_dict(event: Event, actor=None) -> dict:
    return {
        "type": event.type,
        "seq": event.seq,
        "ts": iso(event.ts),
        "actor": user_ref(actor if actor is not None else event.actor),
        "op_id": event.op_id,
        "data": event.data,
    }
