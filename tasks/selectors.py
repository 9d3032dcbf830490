from django.db.models import Q

from tasks.models import Task
from workspaces.access import access_membership, access_task


def task_list(*, user, workspace_id, status: str | None = None, assigned_to: int | None = None,
              unassigned: bool = False, q: str | None = None):
    membership = access_membership(user=user, workspace_id=workspace_id)
    tasks = Task.objects.filter(workspace=membership.workspace)
    if status:
        tasks = tasks.filter(status=status)
    if unassigned:
        tasks = tasks.filter(assigned_to__isnull=True)
    elif assigned_to is not None:
        tasks = tasks.filter(assigned_to_id=assigned_to)
    if q:
        tasks = tasks.filter(Q(title__icontains=q) | Q(description__icontains=q))
    return tasks.order_by("position", "created_at", "id")


def task_get(*, user, workspace_id, task_id) -> Task:
    return access_task(user=user, workspace_id=workspace_id, task_id=task_id)[1]
