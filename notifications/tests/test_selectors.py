"""Scoped reads: a user's own notifications, newest first; the unread count."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import Notification
from notifications.selectors import notification_list, unread_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_users(db):
    ann, ben = (get_user_model().objects.create(username=n) for n in ("ann", "ben"))
    now = timezone.now()
    for i in range(3):
        n = Notification.objects.create(user=ann, type="mentioned", title=f"ann {i}")
        Notification.objects.filter(pk=n.pk).update(created_at=now - timedelta(minutes=10 - i),
                                                    read_at=now if i == 0 else None)
    Notification.objects.create(user=ben, type="mentioned", title="ben 0")
    return ann, ben


def test_own_notifications_newest_first(two_users):
    ann, ben = two_users
    assert [n.title for n in notification_list(user=ann)] == ["ann 2", "ann 1", "ann 0"]
    assert [n.title for n in notification_list(user=ben)] == ["ben 0"]


def test_unread_filter_and_count(two_users):
    ann, ben = two_users
    assert [n.title for n in notification_list(user=ann, unread=True)] == ["ann 2", "ann 1"]
    assert unread_count(user=ann) == 2 and unread_count(user=ben) == 1


def test_same_time_is_still_a_stable_order(two_users):
    ann, _ = two_users
    Notification.objects.filter(user=ann).update(created_at=timezone.now())
    first = [n.pk for n in notification_list(user=ann)]
    assert first == [n.pk for n in notification_list(user=ann)] and len(set(first)) == 3
