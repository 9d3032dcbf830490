"""Delete read notifications older than N days (unread ones are kept, whatever their age)."""
from django.core.management.base import BaseCommand, CommandError

from notifications.services import notifications_prune


class Command(BaseCommand):
    help = "Delete READ notifications created more than --days days ago (default 30)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="age in days (0 or more, default 30)")

    def handle(self, *args, days: int, **options):
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        deleted = notifications_prune(older_than_days=days)
        self.stdout.write(f"Deleted {deleted} read notification(s) older than {days} day(s).")
