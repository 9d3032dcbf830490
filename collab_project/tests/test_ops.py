"""Health, readiness, metrics, the database-error mapping and the log lines
(collab_project/ops.py, metrics.py, logs.py) in one process.

Runs on SQLite + the in-memory layer and on PostgreSQL + Redis alike.
"""
import io
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from collab_project import ops
from collab_project.logs import JsonFormatter, scrub

pytestmark = pytest.mark.django_db(transaction=True)

HOST = [(b"host", b"testserver")]


def scrape(client, addr="127.0.0.1") -> dict:
    response = client.get("/metrics", REMOTE_ADDR=addr)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def json_log():
    """Every log line as the JSON formatter writes it (scrubber and context filter included)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ops.LogContextFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def workspace(make_user):
    from workspaces.services import workspace_create

    owner = make_user("owner")
    return owner, str(workspace_create(actor=owner, name="Ops").data["id"])


# -- health ------------------------------------------------------------------------
def test_healthz_answers_without_credentials(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_ok_when_dependencies_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"


def test_readyz_503_names_the_failed_dependency(client, monkeypatch):
    def broken():
        raise OperationalError("connection refused")

    monkeypatch.setattr(ops, "_db_ping", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["database"]
    assert body["checks"]["database"] == "unreachable"


def test_health_endpoints_are_not_throttled(client, monkeypatch):
    from django.core.cache.backends.locmem import LocMemCache
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "1/min", "user": "1/min"})
    # A private cache: a shared test Redis may be flushed by other runs mid-test.
    monkeypatch.setattr(SimpleRateThrottle, "cache", LocMemCache("ops-throttle", {}))
    before = scrape(client)
    statuses = [client.get("/api/schema/?format=json").status_code for _ in range(2)]
    assert statuses[-1] == 429, statuses  # the throttle is really on for the API
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200
    after = scrape(client)
    assert value(after, "collab_rate_limit_hits_total", kind="http") == \
        value(before, "collab_rate_limit_hits_total", kind="http") + 1


# -- /metrics access -------------------------------------------------------------
def test_metrics_refused_outside_loopback_and_allowed_nets(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_metrics_refused_through_a_proxy_even_from_loopback(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="198.51.100.7").status_code == 403


@override_settings(METRICS_ALLOWED_NETS=["10.0.0.0/8", "not-a-net"])
def test_metrics_allowed_for_configured_nets(client):
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="11.0.0.1").status_code == 403


def test_client_allowed_cases():
    assert ops.client_allowed("127.0.0.1")
    assert ops.client_allowed("::1")
    assert ops.client_allowed("::ffff:127.0.0.1")
    assert not ops.client_allowed("192.168.1.1")
    assert not ops.client_allowed("")
    assert not ops.client_allowed(None)
    assert not ops.client_allowed("garbage")


# -- counters -----------------------------------------------------------------------
async def test_metrics_move_as_a_socket_connects_writes_and_is_refused(client, workspace, ws_connect):
    from channels.db import database_sync_to_async as in_thread

    owner, ws = workspace
    before = await in_thread(scrape)(client)
    comm, connected, _ = await ws_connect(f"/ws/workspaces/{ws}/", owner, headers=HOST)
    assert connected
    assert (await comm.receive_json_from(timeout=3))["type"] == "hello"
    await comm.send_json_to({"type": "task.create", "op_id": "m1", "data": {"title": "Counted"}})
    await comm.send_json_to({"type": "no.such.type"})
    kinds = set()
    while not {"ack", "task.created", "error"} <= kinds:
        kinds.add((await comm.receive_json_from(timeout=3))["type"])
    during = await in_thread(scrape)(client)

    bad, connected, _ = await ws_connect(f"/ws/workspaces/{ws}/", token="not-a-token", headers=HOST)
    assert (await bad.receive_output(timeout=3))["type"] == "websocket.close"
    await comm.disconnect()
    after = await in_thread(scrape)(client)

    assert value(during, "collab_ws_connects_total") == value(before, "collab_ws_connects_total") + 1
    assert value(during, "collab_ws_open_sockets") == value(before, "collab_ws_open_sockets") + 1
    assert value(after, "collab_ws_open_sockets") == value(before, "collab_ws_open_sockets")
    for kind in ("task.create", "other"):
        assert value(during, "collab_ws_messages_in_total", type=kind) == \
            value(before, "collab_ws_messages_in_total", type=kind) + 1
    for kind in ("hello", "ack", "error"):
        assert value(during, "collab_ws_messages_out_total", type=kind) >= \
            value(before, "collab_ws_messages_out_total", type=kind) + 1
    assert value(during, "collab_events_published_total", type="task.created") == \
        value(before, "collab_events_published_total", type="task.created") + 1
    assert value(during, "collab_event_broadcast_latency_seconds_count") == \
        value(before, "collab_event_broadcast_latency_seconds_count") + 1
    assert value(after, "collab_ws_refusals_total", code="4401") == \
        value(before, "collab_ws_refusals_total", code="4401") + 1
    assert value(after, "collab_dependency_up", dependency="database") == 1.0


@override_settings(WS_MESSAGES_PER_MINUTE=2)
async def test_socket_rate_limit_hits_are_counted(client, workspace, ws_connect):
    from channels.db import database_sync_to_async as in_thread

    owner, ws = workspace
    comm, connected, _ = await ws_connect(f"/ws/workspaces/{ws}/", owner, headers=HOST)
    assert connected
    assert (await comm.receive_json_from(timeout=3))["type"] == "hello"
    before = await in_thread(scrape)(client)
    for _ in range(3):
        await comm.send_json_to({"type": "heartbeat"})
    replies = [await comm.receive_json_from(timeout=3) for _ in range(3)]
    assert replies[-1]["type"] == "error" and replies[-1]["code"] == "rate_limited", replies
    after = await in_thread(scrape)(client)
    assert value(after, "collab_rate_limit_hits_total", kind="messages") == \
        value(before, "collab_rate_limit_hits_total", kind="messages") + 1


def test_a_failed_broadcast_is_counted_and_not_timed(monkeypatch, client):
    from channels.layers import get_channel_layer

    from collab_project import broadcast

    async def broken(group, message):
        raise ConnectionError("redis is gone")

    monkeypatch.setattr(get_channel_layer(), "group_send", broken)
    before = scrape(client)
    payload = {"type": "task.deleted", "seq": 7, "ts": "2026-01-01T00:00:00Z", "actor": {"id": 1, "username": "a"},
               "op_id": None, "data": {"id": "x"}}
    broadcast.send_event("00000000-0000-0000-0000-000000000001", 7, payload)
    after = scrape(client)
    assert value(after, "collab_channel_layer_failures_total", op="group_send") == \
        value(before, "collab_channel_layer_failures_total", op="group_send") + 1
    assert value(after, "collab_event_broadcast_latency_seconds_count") == \
        value(before, "collab_event_broadcast_latency_seconds_count")


def test_http_responses_are_counted_by_status_class(client):
    before = scrape(client)
    assert client.get("/api/workspaces/").status_code == 401
    assert client.get("/api/no-such-thing/").status_code == 404
    after = scrape(client)
    assert value(after, "collab_http_responses_total", status="4xx") == \
        value(before, "collab_http_responses_total", status="4xx") + 2
    assert value(after, "collab_http_request_duration_seconds_count") == \
        value(before, "collab_http_request_duration_seconds_count") + 2


def test_client_chosen_labels_are_bounded():
    from collab_project import metrics

    assert metrics._bounded("x" * 1000, metrics.CLIENT_TYPES) == "other"
    assert metrics._bounded(None, metrics.CLIENT_TYPES) == "other"
    assert metrics._bounded("task.update", metrics.CLIENT_TYPES) == "task.update"


# -- database outages -------------------------------------------------------------
def test_database_error_is_a_503_unavailable_over_rest(api, workspace, monkeypatch):
    from tasks import api as task_api

    owner, ws = workspace

    def down(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(task_api.services, "task_create", down)
    response = api(owner).post(f"/api/workspaces/{ws}/tasks/", {"title": "Lost"}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert response["Retry-After"]


def test_database_error_is_an_unavailable_socket_error():
    from django.db import InterfaceError

    from collab_project.sockets import error_message

    for exc in (OperationalError("down"), InterfaceError("closed")):
        message = error_message(exc, "op-1")
        assert message["type"] == "error"
        assert message["code"] == "unavailable"
        assert message["op_id"] == "op-1"


# -- logs --------------------------------------------------------------------------
def test_scrub_removes_credentials():
    text = scrub("GET /ws/?token=abc.def.ghi&since=3 password=hunter2 Authorization=Bearer")
    assert "abc.def.ghi" not in text and "hunter2" not in text
    assert "since=3" in text


def test_json_formatter_scrubs_message_extra_and_traceback():
    formatter = JsonFormatter()
    try:
        raise ValueError("bad url /x?token=SECRET1")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "saw %s", ("refresh=SECRET2",), sys.exc_info())
    record.url = "/ws/?access=SECRET3"
    line = formatter.format(record)
    for secret in ("SECRET1", "SECRET2", "SECRET3"):
        assert secret not in line
    assert json.loads(line)["worker"]


async def test_socket_logs_carry_workspace_user_worker_and_no_token(workspace, ws_connect, json_log):
    from rest_framework_simplejwt.tokens import AccessToken

    owner, ws = workspace
    token = str(AccessToken.for_user(owner))
    comm, connected, _ = await ws_connect(f"/ws/workspaces/{ws}/?token={token}", headers=HOST)
    assert connected
    assert (await comm.receive_json_from(timeout=3))["type"] == "hello"
    await comm.send_json_to({"type": "task.create", "op_id": "log-1", "data": {"title": "Logged"}})
    kinds = set()
    while not {"ack", "task.created"} <= kinds:
        kinds.add((await comm.receive_json_from(timeout=3))["type"])
    bad, _, _ = await ws_connect(f"/ws/workspaces/{ws}/?token={token}x", headers=HOST)
    assert (await bad.receive_output(timeout=3))["type"] == "websocket.close"
    await comm.disconnect()

    lines = json_log()
    raw = json.dumps(lines)
    assert token not in raw and token.split(".")[1] not in raw
    by_msg = {}
    for line in lines:
        by_msg.setdefault(line["msg"], []).append(line)
    for msg in ("socket connected", "socket disconnected", "write"):
        assert msg in by_msg, sorted(by_msg)
        line = by_msg[msg][0]
        assert line["workspace"] == ws, line
        assert line["user"] == owner.pk, line
        assert isinstance(line["worker"], int)
    assert by_msg["write"][0]["seq"] == 1 and by_msg["write"][0]["event"] == "task.created"
    refused = by_msg["socket refused"][0]
    assert refused["close_code"] == 4401 and refused["workspace"] == ws


def test_rest_writes_are_logged(api, workspace, json_log):
    owner, ws = workspace
    response = api(owner).post(f"/api/workspaces/{ws}/tasks/", {"title": "Via REST"}, format="json")
    assert response.status_code == 201
    writes = [line for line in json_log() if line["msg"] == "write"]
    assert len(writes) == 1
    assert writes[0]["workspace"] == ws and writes[0]["user"] == owner.pk and writes[0]["event"] == "task.created"


# -- fail-open cache ---------------------------------------------------------------
def test_cache_fails_open_when_redis_is_down():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = ops.FailOpenRedisCache(f"redis://127.0.0.1:{port}/0",
                                   {"OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}})
    assert cache.get("k") is None
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get("k", default=3) == 3
    cache.set("k", 1)
    assert cache.add("k", 1) is False
    assert cache.get_many(["a", "b"]) == {}


# -- deploy/ configuration ---------------------------------------------------------
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_nginx_config_is_valid(tmp_path):
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    openssl = shutil.which("openssl")
    if not nginx or not openssl:
        pytest.skip("needs nginx and openssl (apt-get install nginx)")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t",
                    "-keyout", str(tmp_path / "k.key"), "-out", str(tmp_path / "c.crt")],
                   check=True, capture_output=True)
    text = (DEPLOY / "nginx.conf").read_text()
    for old, new in (("/etc/nginx/tls/tasks.example.com.crt", tmp_path / "c.crt"),
                     ("/etc/nginx/tls/tasks.example.com.key", tmp_path / "k.key"),
                     ("/var/log/nginx/", f"{tmp_path}/"), ("/run/nginx.pid", tmp_path / "nginx.pid")):
        assert old in text
        text = text.replace(old, str(new))
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    result = subprocess.run([nginx, "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # Sockets carry ?token=: the access log must not log the query string.
    assert "$request " not in text and "$request_uri" not in text.split("return 301")[0]


def test_alert_rules_are_valid_and_fire_as_tested():
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("needs promtool (apt-get install prometheus)")
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        result = subprocess.run([promtool, *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


# -- scripts/serve.py ------------------------------------------------------------------
def test_serve_refuses_several_workers_without_postgres_and_redis():
    env = dict(os.environ, DATABASE_URL="", REDIS_URL="", SECRET_KEY="x")
    result = subprocess.run([sys.executable, str(DEPLOY.parent / "scripts" / "serve.py"), "--workers", "2",
                             "--port", "0"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert "DATABASE_URL and REDIS_URL" in line["msg"]


def test_a_malformed_number_setting_is_named_plainly(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from collab_project.settings import env_int

    monkeypatch.setenv("REDIS_MAX_CONNECTIONS", "fifty")
    with pytest.raises(ImproperlyConfigured, match="REDIS_MAX_CONNECTIONS must be a whole number, not 'fifty'"):
        env_int("REDIS_MAX_CONNECTIONS", 50, minimum=1)
    monkeypatch.setenv("REDIS_MAX_CONNECTIONS", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("REDIS_MAX_CONNECTIONS", 50, minimum=1)
    monkeypatch.setenv("REDIS_MAX_CONNECTIONS", "8")
    assert env_int("REDIS_MAX_CONNECTIONS", 50, minimum=1) == 8
