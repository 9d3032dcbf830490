"""`manage.py seed_demo`: demo data made through the services, idempotent."""
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tasks.models import Task
from workspaces import services
from workspaces.management.commands.seed_demo import DEMO_PASSWORD, TASKS
from workspaces.models import Event, Membership, Workspace

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture(autouse=True)
def _debug_and_fast_hasher(settings):
    settings.DEBUG = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _snapshot():
    return (User.objects.count(), Workspace.objects.count(), Membership.objects.count(), Task.objects.count(),
            Event.objects.count())


def test_seed_creates_users_workspace_roles_and_tasks():
    out = seed()
    assert DEMO_PASSWORD in out and "alice" in out and "admin" in out
    workspace = Workspace.objects.get(name="Demo team")
    assert workspace.owner.username == "alice"
    roles = dict(Membership.objects.filter(workspace=workspace).values_list("user__username", "role"))
    assert roles == {"alice": "owner", "bob": "admin", "carol": "member", "dave": "viewer"}
    for username in ("alice", "bob", "carol", "dave"):
        user = User.objects.get(username=username)
        assert user.check_password(DEMO_PASSWORD) and not user.is_staff
    superuser = User.objects.get(username="admin")
    assert superuser.is_superuser and superuser.is_staff and superuser.check_password(DEMO_PASSWORD)
    assert not Membership.objects.filter(user=superuser).exists()
    tasks = Task.objects.filter(workspace=workspace)
    assert tasks.count() == len(TASKS)
    assert set(tasks.values_list("status", flat=True)) == {"todo", "in_progress", "done"}
    assert tasks.filter(assigned_to__isnull=False).exists() and tasks.filter(assigned_to__isnull=True).exists()


def test_seed_writes_through_the_services():
    seed()
    workspace = Workspace.objects.get(name="Demo team")
    seqs = list(Event.objects.filter(workspace=workspace).order_by("seq").values_list("seq", "type"))
    assert [s for s, _ in seqs] == list(range(1, len(seqs) + 1))
    assert workspace.last_seq == len(seqs)
    types = [t for _, t in seqs]
    assert types.count("member.joined") == 3 and types.count("task.created") == len(TASKS)
    # Assigned tasks notified their assignees, as any task_create does.
    carol = User.objects.get(username="carol")
    assert carol.notifications.filter(type="task_assigned").exists()


def test_seed_twice_changes_nothing():
    seed()
    before = _snapshot()
    out = seed()
    assert _snapshot() == before
    assert "nothing to do" in out


def test_seed_completes_a_partial_demo_without_touching_the_board():
    seed()
    workspace = Workspace.objects.get(name="Demo team")
    alice, carol = User.objects.get(username="alice"), User.objects.get(username="carol")
    services.member_remove(actor=alice, workspace_id=workspace.pk, user_id=carol.pk)
    tasks_before = Task.objects.count()
    seed()
    assert Membership.objects.get(workspace=workspace, user=carol).role == "member"
    assert Task.objects.count() == tasks_before
    assert Workspace.objects.filter(name="Demo team").count() == 1


def test_seed_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        seed()
    assert not User.objects.exists()
    assert "no demo data" in seed("--if-debug")
    assert not User.objects.exists()
    seed("--force", "--password", "another-pass-42")
    assert User.objects.get(username="bob").check_password("another-pass-42")


def test_prune_operations_deletes_only_expired_keys(make_user):
    from datetime import timedelta

    from django.utils import timezone

    from tasks import services as task_services
    from workspaces.models import OperationRecord

    owner = make_user("owner")
    ws = services.workspace_create(actor=owner, name="W").data["id"]
    task_services.task_create(actor=owner, workspace_id=ws, title="old", op_id="old-key")
    task_services.task_create(actor=owner, workspace_id=ws, title="new", op_id="new-key")
    OperationRecord.objects.filter(key="old-key").update(created_at=timezone.now() - timedelta(hours=25))
    out = StringIO()
    call_command("prune_operations", stdout=out)
    assert "Deleted 1 " in out.getvalue()
    assert list(OperationRecord.objects.values_list("key", flat=True)) == ["new-key"]
    with pytest.raises(CommandError):
        call_command("prune_operations", "--hours", "-1", stdout=StringIO())
    assert OperationRecord.objects.count() == 1
    call_command("prune_operations", "--hours", "0", stdout=StringIO())
    assert not OperationRecord.objects.exists()


def test_env_example_documents_every_setting_read_in_settings():
    """`make run` copies .env.example to .env: it must name every setting there is."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    source = (root / "collab_project" / "settings.py").read_text()
    names = set(re.findall(r'(?:environ\.get|env_int|env_bool|env_list)\(\s*"([A-Z][A-Z0-9_]*)"', source))
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "EVENT_LOG_KEEP"} <= names
    example = (root / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    missing = sorted(names - documented)
    assert not missing, f"read in settings.py but not documented in .env.example: {', '.join(missing)}"


def test_manage_py_without_secret_key_says_so_clearly(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {"PATH": os.environ.get("PATH", ""), "DEBUG": "0", "SQLITE_PATH": str(tmp_path / "db.sqlite3")}
    # An empty SECRET_KEY beats any .env in the checkout (os.environ wins over .env).
    env["SECRET_KEY"] = ""
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in done.stderr
    assert "Traceback" not in done.stderr
