"""Settings, read from the environment only (see .env.example).

With nothing set the project runs on the embedded default: SQLite and the
in-memory channel layer in one process. DATABASE_URL and REDIS_URL switch to
PostgreSQL and Redis, which every multi-worker deployment needs.
"""
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _load_dotenv(path: Path) -> None:
    """Read KEY=value lines from .env without overriding the real environment."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


_load_dotenv(BASE_DIR / ".env")


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. Set it in the environment or in .env "
            "(`make run` writes a .env with a random key for local use)."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "workspaces",
    "tasks",
    "presence",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "collab_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "collab_project.wsgi.application"
ASGI_APPLICATION = "collab_project.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue
            # instead of failing with "database is locked" on upgrade.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DB_POOL", True):
    # psycopg's pool instead of CONN_MAX_AGE: under ASGI every thread would keep
    # its own connection and exhaust PostgreSQL's limit.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DB_POOL_MIN", 2),
        "max_size": env_int("DB_POOL_MAX", 20),
        "timeout": env_int("DB_POOL_TIMEOUT", 10),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

REDIS_URL = os.environ.get("REDIS_URL", "")
# Per worker, for presence, limits and the watchdog (the channel layer and the
# cache have their own connections).
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 50, minimum=1)
CHANNEL_LAYER_BACKEND = os.environ.get("CHANNEL_LAYER_BACKEND", "pubsub")
if REDIS_URL:
    # No socket timeout on the layer's connections: a quiet subscriber is not dead.
    _redis_host = {"address": REDIS_URL, "socket_timeout": None}
    if CHANNEL_LAYER_BACKEND == "core":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [REDIS_URL], "capacity": env_int("CHANNEL_CAPACITY", 1000),
                           "prefix": os.environ.get("REDIS_KEY_PREFIX", "collab") + ":asgi"},
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [_redis_host], "prefix": os.environ.get("REDIS_KEY_PREFIX", "collab") + ":asgi"},
            }
        }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("REDIS_KEY_PREFIX", "collab") + ":cache",
        }
    }
else:
    # One process: each worker's fan-out channel carries every event of its
    # sockets' workspaces, so it gets the same capacity as on Redis.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                  "CONFIG": {"capacity": env_int("CHANNEL_CAPACITY", 1000)}}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # JWT first: its WWW-Authenticate header makes unauthenticated calls 401.
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "collab_project.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "collab_project.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_ANON_RATE", "600/min"),
        "user": os.environ.get("API_USER_RATE", "3000/min"),
    },
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Collab task list API",
    "DESCRIPTION": "Workspaces, members, invites, tasks, the event log, presence and notifications.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "tasks.models.Status",
        "PresenceStatusEnum": ["active", "idle"],
    },
}

# Contract settings.
EVENT_LOG_KEEP = env_int("EVENT_LOG_KEEP", 10_000)
IDEMPOTENCY_TTL_HOURS = 24
WS_MESSAGES_PER_MINUTE = env_int("WS_MESSAGES_PER_MINUTE", 100)
WS_CONNECTS_PER_MINUTE = env_int("WS_CONNECTS_PER_MINUTE", 10)
WS_MAX_SOCKETS_PER_USER = env_int("WS_MAX_SOCKETS_PER_USER", 10)
WS_MAX_MESSAGE_BYTES = env_int("WS_MAX_MESSAGE_BYTES", 64 * 1024)
WS_HEARTBEAT_INTERVAL = env_int("WS_HEARTBEAT_INTERVAL", 30)
WS_IDLE_TIMEOUT = env_int("WS_IDLE_TIMEOUT", 60)
# How long a socket holds back an event that arrived ahead of a missing one
# before it fetches the gap from the log.
WS_REORDER_HOLD_MS = env_int("WS_REORDER_HOLD_MS", 50)
PRESENCE_TTL = env_int("PRESENCE_TTL", 60)
REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "collab")

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "collab_project.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# -- Operations (collab_project/ops.py, scripts/serve.py, docs/deployment.md) --------
# /metrics answers loopback and these networks (comma-separated CIDRs), 403 otherwise.
METRICS_ALLOWED_NETS = env_list("METRICS_ALLOWED_NETS")
# How long /readyz (and /metrics' dependency gauges) wait for each dependency.
READY_CHECK_TIMEOUT = float(os.environ.get("READY_CHECK_TIMEOUT", "2"))
# PROMETHEUS_MULTIPROC_DIR is read by prometheus-client itself, before Django;
# scripts/serve.py sets a fresh one so every worker on a port shares one view.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
MIDDLEWARE.insert(0, "collab_project.ops.MetricsMiddleware")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The pool checks a connection before handing it out, so connections cut by a
    # database restart or failover are replaced instead of failing one request each.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DB_HEALTH_CHECKS", True)
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5))
if REDIS_URL:
    # The cache only holds REST throttle counters: fail open while Redis is down,
    # and never wait long for it.
    CACHES["default"]["BACKEND"] = "collab_project.ops.FailOpenRedisCache"
    CACHES["default"]["OPTIONS"] = {"socket_connect_timeout": 2, "socket_timeout": 2}
LOGGING["filters"] = {"context": {"()": "collab_project.ops.LogContextFilter"}}
LOGGING["handlers"]["console"]["filters"] = ["context"]

# -- Broadcast (bench/, docs/performance.md) ----------------------------------------
# True: an event is JSON-encoded once in broadcast.py and every socket sends
# that text. False is the Channels-tutorial way (each consumer encodes the
# event itself), kept only as the benchmark's baseline.
BROADCAST_ENCODE_ONCE = env_bool("BROADCAST_ENCODE_ONCE", True)
# True: a worker joins each workspace group once and hands every event to its
# local sockets itself (collab_project/fanout.py). False: every socket joins
# the group on its own channel, the Channels-tutorial way (benchmark baseline).
BROADCAST_LOCAL_FANOUT = env_bool("BROADCAST_LOCAL_FANOUT", True)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (deploy/nginx.conf):
# Django then sees HTTPS requests as secure (CSRF origin checks, secure redirects).
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Redis beyond one node, for the channel layer (docs/deployment.md): shards on
# several Redis servers (every worker must list the same URLs in the same
# order), or one primary found through Sentinel. Presence, limits and the
# cache stay on REDIS_URL.
CHANNEL_REDIS_HOSTS = env_list("CHANNEL_REDIS_HOSTS")
REDIS_SENTINELS = env_list("REDIS_SENTINELS")
if REDIS_URL and (CHANNEL_REDIS_HOSTS or REDIS_SENTINELS):
    if REDIS_SENTINELS:
        _layer_hosts = [{
            "sentinels": [(item.rsplit(":", 1)[0], int(item.rsplit(":", 1)[1])) for item in REDIS_SENTINELS],
            "master_name": os.environ.get("REDIS_SENTINEL_MASTER", "mymaster"),
            "socket_timeout": None,
        }]
    else:
        _layer_hosts = [{"address": url, "socket_timeout": None} for url in CHANNEL_REDIS_HOSTS]
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = _layer_hosts
# Behind pgbouncer in transaction mode server-side cursors (QuerySet.iterator())
# cannot work: turn them off there.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False)
# True: an event's group_send is handed to the event loop and the database
# thread returns at once (bench lever, see docs/performance.md); False waits
# for the layer (async_to_sync), as the Channels tutorial does.
BROADCAST_ASYNC_PUBLISH = env_bool("BROADCAST_ASYNC_PUBLISH", False)
if REDIS_URL:
    # After a Redis restart every pooled connection is stale; redis-py then fails
    # the first command on each (a SUBSCRIBE for a new socket, a cache read)
    # unless told to reconnect and retry. A short retry covers a restart or a
    # failover without stretching an outage much (about 0.3 s per command).
    from redis.asyncio.retry import Retry as _AsyncRetry
    from redis.backoff import ExponentialBackoff as _Backoff
    from redis.exceptions import ConnectionError as _RedisConnectionError, TimeoutError as _RedisTimeoutError
    from redis.retry import Retry as _Retry

    _redis_retry = {"retry_on_error": [_RedisConnectionError, _RedisTimeoutError]}
    _layer_config = CHANNEL_LAYERS["default"]["CONFIG"]
    _layer_config["hosts"] = [
        {**({"address": host} if isinstance(host, str) else host), **_redis_retry,
         "retry": _AsyncRetry(_Backoff(cap=0.25, base=0.05), 2)}
        for host in _layer_config["hosts"]
    ]
    CACHES["default"]["OPTIONS"].update(_redis_retry, retry=_Retry(_Backoff(cap=0.25, base=0.05), 2))
