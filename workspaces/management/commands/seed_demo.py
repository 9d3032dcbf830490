"""`manage.py seed_demo`: demo users, a "Demo team" workspace and its tasks.

Everything goes through the services, so the demo workspace has a real event
log and notifications, exactly as if the users had clicked it together.
Idempotent: what exists already is left alone, so `make run` can call it on
every start.
"""
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from tasks import selectors as task_selectors
from tasks import services as task_services
from workspaces import selectors, services
from workspaces.models import Role

User = get_user_model()

DEMO_PASSWORD = "collab-demo-pass"
WORKSPACE_NAME = "Demo team"
OWNER = "alice"
MEMBERS = (("bob", "admin"), ("carol", "member"), ("dave", "viewer"))
SUPERUSER = "admin"

# (creator, title, description, status, priority, assignee, due in days)
TASKS = (
    ("alice", "Write the onboarding guide", "First-day checklist, accounts, who to ask.", "in_progress", 2, "carol", 3),
    ("alice", "Set up the staging server", "Same settings as production, smaller box.", "todo", 3, "bob", 5),
    ("bob", "Review the API pull request", "", "todo", 1, "alice", None),
    ("alice", "Plan the Q3 roadmap", "@bob please bring the customer feedback.", "todo", 2, None, 14),
    ("carol", "Fix the login redirect bug", "After login the next= parameter is lost.", "in_progress", 3, "bob", 1),
    ("carol", "Update the team calendar", "", "done", 0, "carol", None),
    ("bob", "Order new laptops", "Two for the new hires.", "done", 1, None, None),
    ("bob", "Draft the release notes", "Everything merged since the last release.", "todo", 1, "carol", 7),
)


class Command(BaseCommand):
    help = "Create demo users and a demo workspace with tasks (idempotent; for local use)."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD, help="Password of the users it creates.")
        parser.add_argument("--force", action="store_true",
                            help="Run even with DEBUG off (the demo accounts have a known password).")
        parser.add_argument("--if-debug", action="store_true",
                            help="With DEBUG off, say so and do nothing instead of failing (for `make run`).")

    def handle(self, *args, password: str, force: bool, if_debug: bool, **options):
        if not settings.DEBUG and not force:
            if if_debug:
                self.stdout.write("DEBUG is off: no demo data loaded.")
                return
            raise CommandError("seed_demo creates accounts with a known password; it runs only with DEBUG=1 "
                               "(or pass --force).")
        with transaction.atomic():
            users, created_users = self._users(password)
            workspace_id, created_ws = self._workspace(users[OWNER])
            added = self._members(users, workspace_id)
            tasks = self._tasks(users, workspace_id)
        self._report(password, created_users, created_ws, added, tasks)

    def _users(self, password: str):
        users, created = {}, []
        for username in (OWNER, *(name for name, _ in MEMBERS)):
            user = User.objects.filter(username=username).first()
            if user is None:
                user = services.user_register(username=username, password=password,
                                              email=f"{username}@example.com")
                created.append(username)
            users[username] = user
        if not User.objects.filter(username=SUPERUSER).exists():
            # The one write not through a service: there is no service for staff
            # accounts, and this one belongs to no workspace.
            User.objects.create_superuser(SUPERUSER, f"{SUPERUSER}@example.com", password)
            created.append(SUPERUSER)
        return users, created

    def _workspace(self, owner):
        for membership in selectors.workspace_list(user=owner):
            if membership.role == Role.OWNER and membership.workspace.name == WORKSPACE_NAME:
                return membership.workspace_id, False
        result = services.workspace_create(
            actor=owner, name=WORKSPACE_NAME, description="A sample workspace made by `manage.py seed_demo`.",
        )
        return result.data["id"], True

    def _members(self, users, workspace_id) -> list[str]:
        owner = users[OWNER]
        present = {m.user.username for m in selectors.member_list(user=owner, workspace_id=workspace_id)}
        added = []
        for username, role in MEMBERS:
            if username not in present:
                services.member_add(actor=owner, workspace_id=workspace_id, username=username, role=role)
                added.append(username)
        return added

    def _tasks(self, users, workspace_id) -> int:
        # Only into an empty board: a board the demo users have worked on is theirs.
        if task_selectors.task_list(user=users[OWNER], workspace_id=workspace_id).exists():
            return 0
        today = timezone.localdate()
        for creator, title, description, status, priority, assignee, due_in in TASKS:
            task_services.task_create(
                actor=users[creator], workspace_id=workspace_id, title=title, description=description,
                status=status, priority=priority,
                assigned_to=users[assignee].pk if assignee else None,
                due_date=today + timedelta(days=due_in) if due_in is not None else None,
            )
        return len(TASKS)

    def _report(self, password, created_users, created_ws, added, tasks) -> None:
        out = self.stdout
        if not (created_users or created_ws or added or tasks):
            out.write(f"Demo data already present (workspace {WORKSPACE_NAME!r}); nothing to do.")
        else:
            out.write(self.style.SUCCESS(
                f"Demo data: {len(created_users)} users, {'a new' if created_ws else 'the existing'} workspace "
                f"{WORKSPACE_NAME!r}, {len(added)} members added, {tasks} tasks created."))
        out.write("Demo accounts (password for new ones: %s):" % password)
        out.write(f"  {OWNER:<6} owner of {WORKSPACE_NAME!r}")
        for username, role in MEMBERS:
            out.write(f"  {username:<6} {role}")
        out.write(f"  {SUPERUSER:<6} superuser for /admin/")
