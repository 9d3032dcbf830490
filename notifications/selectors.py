from notifications.models import Notification


def notification_list(*, user, unread: bool = False):
    notifications = Notification.objects.filter(user=user)
    if unread:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications.order_by("-created_at", "-id")


def unread_count(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
