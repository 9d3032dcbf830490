"""Access checks, in one place.

Every helper returns the object or raises: `NotFound` whether the thing is
missing or the caller may not see it (a non-member learns nothing), and
`Forbidden` when the caller is a member whose role is too low.
"""
import uuid

from django.contrib.auth.models import AbstractBaseUser

from collab_project.errors import Forbidden, NotFound
from workspaces.models import ROLE_RANK, Membership, Role, Workspace


def parse_uuid(value) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound() from None


def has_role(role: str, min_role: str) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[min_role]


def access_membership(
    *, user: AbstractBaseUser, workspace_id, min_role: str = Role.VIEWER, for_write: bool = False
) -> Membership:
    """The caller's membership (with its workspace) or NotFound / Forbidden.

    With `for_write` the workspace row is locked, so the role read here stays
    true until the writing transaction commits; it also orders the
    workspace's writes, which the event log's seq relies on.
    """
    ws_id = parse_uuid(workspace_id)
    if not getattr(user, "is_authenticated", False):
        raise NotFound()
    query = Membership.objects.select_related("workspace").filter(workspace_id=ws_id, user=user)
    if for_write:
        # One statement. Both rows are locked, the workspace's first (PostgreSQL
        # locks in the order of OF): a writer waiting here gets the rows as the
        # transaction it waited for left them (its membership gone, its role
        # changed), and takes the workspace lock before the membership row as
        # every other writer does, so no deadlock. Locking only the workspace
        # would return the membership as it was before the wait. Both are
        # checked in workspaces/tests/test_write_path_pg.py.
        query = query.select_for_update(of=("workspace", "self"))
    else:
        query = query.select_related("workspace__owner")
    membership = query.first()
    if membership is None:
        raise NotFound()
    if not has_role(membership.role, min_role):
        raise Forbidden()
    return membership


def access_workspace(*, user, workspace_id, min_role: str = Role.VIEWER, for_write: bool = False) -> Workspace:
    return access_membership(user=user, workspace_id=workspace_id, min_role=min_role, for_write=for_write).workspace


def access_task(*, user, workspace_id, task_id, min_role: str = Role.VIEWER, for_write: bool = False):
    """The task of that workspace, for a member of at least `min_role`."""
    from tasks.models import Task

    membership = access_membership(user=user, workspace_id=workspace_id, min_role=min_role, for_write=for_write)
    tid = parse_uuid(task_id)
    query = Task.objects.filter(pk=tid, workspace=membership.workspace)
    if for_write:
        query = query.select_for_update()
    task = query.first()
    if task is None:
        raise NotFound()
    task.workspace = membership.workspace
    return membership, task
