"""`manage.py prune_operations`: forget idempotency keys past their 24 hours.

A key older than that is no longer replayed anyway; run this from cron (daily
is plenty) so the table does not grow without bound.
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from workspaces.idempotency import operation_records_prune


class Command(BaseCommand):
    help = "Delete idempotency records (REST Idempotency-Key, socket op_id) older than their lifetime."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=int, default=settings.IDEMPOTENCY_TTL_HOURS,
                            help="Delete records older than this many hours (default: %(default)s).")

    def handle(self, *args, hours: int, **options):
        if hours < 0:
            raise CommandError("--hours must be 0 or more.")
        deleted = operation_records_prune(older_than_hours=hours)
        self.stdout.write(f"Deleted {deleted} idempotency records older than {hours} hours.")
