from collab_project.jsonutil import iso, iso_date
from tasks.models import Task

TASK_FIELDS = (
    "id", "workspace", "title", "description", "status", "priority", "due_date",
    "assigned_to", "position", "created_by", "version", "created_at", "updated_at",
)


def task_dict(task: Task) -> dict:
    return {
        "id": str(task.id),
        "workspace": str(task.workspace_id),
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority,
        "due_date": iso_date(task.due_date),
        "assigned_to": task.assigned_to_id,
        "position": task.position,
        "created_by": task.created_by_id,
        "version": task.version,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
    }
