"""Task writes. Each is one transaction (the @idempotent wrapper's): the
change, its event, its notifications."""
from django.db.models import Max

from collab_project.errors import Conflict, invalid_field
from notifications.services import notifications_for_task_change
from tasks.models import Task
from tasks.representations import task_dict
from workspaces import events
from workspaces.access import access_membership, access_task
from workspaces.idempotency import WriteResult, idempotent
from workspaces.models import Membership, Role

EDITABLE = ("title", "description", "status", "priority", "due_date", "assigned_to", "position")


def _check_assignee(workspace, user_id):
    if user_id is None:
        return None
    membership = Membership.objects.select_related("user").filter(workspace=workspace, user_id=user_id).first()
    if membership is None:
        raise invalid_field("assigned_to", "Must be a member of this workspace.")
    return membership.user


def _values(fields: dict) -> dict:
    """Editable fields as model attributes (assigned_to is given as a user id)."""
    return {("assigned_to_id" if k == "assigned_to" else k): v for k, v in fields.items() if k in EDITABLE}


def _current(task: Task, name: str):
    return getattr(task, "assigned_to_id" if name == "assigned_to" else name)


@idempotent
def task_create(*, actor, workspace_id, title: str, op_id: str | None = None, **fields) -> WriteResult:
    """Create a task (member or above); position defaults to after the last one."""
    membership = access_membership(user=actor, workspace_id=workspace_id, min_role=Role.MEMBER, for_write=True)
    workspace = membership.workspace
    assignee = _check_assignee(workspace, fields.get("assigned_to"))
    if fields.get("position") is None:
        last = Task.objects.filter(workspace=workspace).aggregate(m=Max("position"))["m"]
        fields["position"] = 1.0 if last is None else float(last) + 1.0
    task = Task(workspace=workspace, title=title, created_by=actor, **_values(fields))
    task.assigned_to = assignee
    task.save()
    data = task_dict(task)
    recorded = events.event_record(workspace=workspace, type=events.TASK_CREATED, actor=actor, data=data,
                                   op_id=op_id)
    notifications_for_task_change(actor=actor, task=task, before=None, changed=[])
    return WriteResult(data, recorded.seq, 201)


@idempotent
def task_update(*, actor, workspace_id, task_id, version: int, op_id: str | None = None, **fields) -> WriteResult:
    """Apply the given fields if none of them changed since `version`.

    Field-level merge: a stale version is fine as long as the fields this
    update sets were not changed after it; otherwise, or for a version the
    task never had, Conflict carries the current task and the clashing fields.
    Every applied update raises the version by one.
    """
    membership, task = access_task(user=actor, workspace_id=workspace_id, task_id=task_id,
                                   min_role=Role.MEMBER, for_write=True)
    fields = {k: v for k, v in fields.items() if k in EDITABLE}
    if version < 1 or version > task.version:
        # Never merge against a version that never existed, even with no fields.
        raise Conflict(current=task_dict(task), fields=sorted(fields))
    clashing = sorted(n for n in fields if task.field_versions.get(n, 1) > version)
    if clashing:
        raise Conflict(current=task_dict(task), fields=clashing)
    if "assigned_to" in fields:
        _check_assignee(membership.workspace, fields["assigned_to"])
    before = {"title": task.title, "description": task.description}
    changed = [n for n in EDITABLE if n in fields and _current(task, n) != fields[n]]
    for name, value in _values(fields).items():
        setattr(task, name, value)
    task.version += 1
    task.field_versions = {**task.field_versions, **{n: task.version for n in changed}}
    task.save()
    data = task_dict(task)
    recorded = events.event_record(workspace=membership.workspace, type=events.TASK_UPDATED, actor=actor,
                                   data={**data, "changed": changed}, op_id=op_id)
    notifications_for_task_change(actor=actor, task=task, before=before, changed=changed)
    return WriteResult(data, recorded.seq)


@idempotent
def task_delete(*, actor, workspace_id, task_id, op_id: str | None = None) -> WriteResult:
    """Delete a task (member or above); emits task.deleted {id}."""
    membership, task = access_task(user=actor, workspace_id=workspace_id, task_id=task_id,
                                   min_role=Role.MEMBER, for_write=True)
    data = {"id": str(task.id)}
    task.delete()
    recorded = events.event_record(workspace=membership.workspace, type=events.TASK_DELETED, actor=actor,
                                   data=data, op_id=op_id)
    return WriteResult(data, recorded.seq, 204)


def tasks_unassign_user(*, actor, workspace, user, op_id: str | None = None) -> None:
    """Unassign a departing member's tasks, one task.updated each.

    Runs inside the caller's transaction with the workspace locked.
    """
    for task in Task.objects.select_for_update().filter(workspace=workspace, assigned_to=user):
        task.assigned_to = None
        task.version += 1
        task.field_versions = {**task.field_versions, "assigned_to": task.version}
        task.save()
        events.event_record(workspace=workspace, type=events.TASK_UPDATED, actor=actor,
                            data={**task_dict(task), "changed": ["assigned_to"]}, op_id=op_id)
