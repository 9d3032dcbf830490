from collab_project.jsonutil import iso
from notifications.models import Notification


def notification_dict(notification: Notification) -> dict:
    return {
        "id": str(notification.id),
        "type": notification.type,
        "title": notification.title,
        "message": notification.message,
        "data": notification.data,
        "workspace": str(notification.workspace_id) if notification.workspace_id else None,
        "created_at": iso(notification.created_at),
        "read_at": iso(notification.read_at),
    }
