"""Prometheus metrics, shared by every worker on a port.

With PROMETHEUS_MULTIPROC_DIR set (scripts/serve.py sets a fresh one) each
worker writes its samples to files there and /metrics (collab_project.ops)
merges them, so any worker answers for all. Without it (one process, tests)
the default registry holds them.

Labels are bounded: client-chosen strings (a message `type`) are folded into
`other`, so a client cannot blow up the number of series.
"""
import os

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "collab"
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

CLIENT_TYPES = frozenset({"task.create", "task.update", "task.delete", "heartbeat", "presence.update"})
SERVER_TYPES = frozenset({
    "hello", "ack", "error", "heartbeat.ack", "resync_required", "notification",
    "presence.joined", "presence.left", "presence.updated",
    "task.created", "task.updated", "task.deleted", "member.joined", "member.removed",
    "member.role_changed", "workspace.updated", "workspace.deleted",
})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# 'liveall': one series per live worker (the collector adds the `pid` label);
# the supervisor marks a dead worker's file dead so its sockets stop counting.
SOCKETS_OPEN = Gauge(f"{PREFIX}_ws_open_sockets", "WebSockets open now, per worker.",
                     multiprocess_mode="liveall")
CONNECTS = Counter(f"{PREFIX}_ws_connects", "WebSockets accepted.")
REFUSALS = Counter(f"{PREFIX}_ws_refusals", "WebSocket connects refused, by close code.", ["code"])
DISCONNECTS = Counter(f"{PREFIX}_ws_disconnects", "Accepted WebSockets that closed.")
MESSAGES_IN = Counter(f"{PREFIX}_ws_messages_in", "Client messages received, by type.", ["type"])
MESSAGES_OUT = Counter(f"{PREFIX}_ws_messages_out", "Messages sent to clients, by type.", ["type"])
RATE_LIMITED = Counter(f"{PREFIX}_rate_limit_hits", "Requests or messages refused by a rate limit.", ["kind"])
ERRORS = Counter(f"{PREFIX}_errors", "Unexpected errors (server faults), by where they happened.", ["where"])
LAYER_FAILURES = Counter(f"{PREFIX}_channel_layer_failures", "Channel layer operations that failed.", ["op"])
EVENTS_PUBLISHED = Counter(f"{PREFIX}_events_published", "Committed events handed to the channel layer.",
                           ["type"])
BROADCAST_LATENCY = Histogram(f"{PREFIX}_event_broadcast_latency_seconds",
                              "From an event's write in its transaction to its group_send returning.",
                              buckets=LATENCY_BUCKETS)
HTTP_RESPONSES = Counter(f"{PREFIX}_http_responses", "HTTP responses, by status class.", ["status"])
HTTP_LATENCY = Histogram(f"{PREFIX}_http_request_duration_seconds", "HTTP request handling time.",
                         buckets=LATENCY_BUCKETS)


def _bounded(kind, known: frozenset) -> str:
    return kind if isinstance(kind, str) and kind in known else "other"


def socket_opened() -> None:
    CONNECTS.inc()
    SOCKETS_OPEN.inc()


def socket_closed() -> None:
    DISCONNECTS.inc()
    SOCKETS_OPEN.dec()


def socket_refused(code: int) -> None:
    REFUSALS.labels(code=str(int(code))).inc()


def message_in(kind: str) -> None:
    MESSAGES_IN.labels(type=_bounded(kind, CLIENT_TYPES)).inc()


def message_out(kind: str) -> None:
    MESSAGES_OUT.labels(type=_bounded(kind, SERVER_TYPES)).inc()


def rate_limited(kind: str) -> None:
    RATE_LIMITED.labels(kind=_bounded(kind, frozenset({"messages", "connects", "sockets", "http"}))).inc()


def error(where: str) -> None:
    ERRORS.labels(where=_bounded(where, frozenset({"socket", "http", "broadcast", "connect"}))).inc()


def broadcast_latency(seconds: float) -> None:
    BROADCAST_LATENCY.observe(max(0.0, seconds))


def layer_failure(op: str = "group_send") -> None:
    LAYER_FAILURES.labels(op=_bounded(op, frozenset({"group_send", "group_add", "group_discard", "send"}))).inc()


def event_published(kind: str) -> None:
    EVENTS_PUBLISHED.labels(type=_bounded(kind, SERVER_TYPES)).inc()


def http_response(status: int, seconds: float) -> None:
    HTTP_RESPONSES.labels(status=f"{int(status) // 100}xx").inc()
    HTTP_LATENCY.observe(max(0.0, seconds))
