"""Settings for devmanager. Everything that differs between deployments comes from the environment."""

import os
import re
import ssl
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from devmanager.timestamps import TIMESTAMP_FORMAT

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        number = float(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from exc
    if not 0 < number < float("inf"):
        raise ImproperlyConfigured(f"{name} must be a positive number, not {value!r}")
    return number


def env_rate(name: str) -> str:
    """A rate such as `600/minute` (per second, minute, hour or day), as DRF reads it; empty means no limit."""
    value = os.environ.get(name, "").strip()
    if value and not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name} must look like 600/minute (per second, minute, hour or day), not {value!r}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required unless DJANGO_DEBUG=true")
    SECRET_KEY = "insecure-development-key-never-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mptt",
    "django_prometheus",
    "devmanager.api",
    "devices",
    "groups",
    "adapters",
    "transfer",
    "events",
    "fleet",
    "webhooks",
    "console",
]

MIDDLEWARE = [
    # Counts and times every request, whatever answers it (django_prometheus's pair: first and last).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Every response, including those made by the middleware below, gets a request ID
    # and the contract's error body.
    "devmanager.api.middleware.RequestIdMiddleware",
    "devmanager.api.middleware.DeviceScopeMiddleware",
    "devmanager.api.middleware.ErrorBodyMiddleware",
    # Before the HTTPS redirect: a key in the URL is refused, not redirected (which would have it sent again).
    "devmanager.api.middleware.RequestGuardMiddleware",
    "devmanager.api.middleware.RequireHttpsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the session's: a GET's reads may go to a replica; a write's answer carries its consistency token.
    "devmanager.replicas.ReplicaRoutingMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "devmanager.urls"
WSGI_APPLICATION = "devmanager.wsgi.application"

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

# An SQLite file is the zero-setup default; production sets DATABASE_URL to PostgreSQL.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'var' / 'devmanager.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A health check costs a round trip on every request; enable it where connections go stale.
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent readers and one writer without "database is locked" on short write bursts.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The test database is a file beside the real one, not Django's shared-cache in-memory database: shared cache
    # answers a concurrent writer with "database table is locked" at once, ignoring the timeout above, so the tests
    # with threads (long polling, webhooks) would see an error production never gives.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", f"{DATABASES['default']['NAME']}.test")
    # The covering indexes' INCLUDE columns are PostgreSQL's speed-up; SQLite builds the same indexes without them.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

# PostgreSQL streaming replicas of DATABASE_URL (comma-separated URLs): GET requests may read from them, with
# read-your-writes (devmanager/replicas.py). Tests read the primary through them (MIRROR).
for number, url in enumerate(filter(None, os.environ.get("DATABASE_REPLICA_URLS", "").split(",")), start=1):
    DATABASES[f"replica{number}"] = {
        **dj_database_url.parse(url.strip(), conn_max_age=DATABASES["default"]["CONN_MAX_AGE"]),
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["devmanager.replicas.ReplicaRouter"]
# Queries counted and timed per database (django_prometheus' wrappers of Django's backends): /metrics.
for database in DATABASES.values():
    database["ENGINE"] = database["ENGINE"].replace("django.db.backends.", "django_prometheus.db.backends.")
# Behind PgBouncer in transaction pooling mode a transaction, not a session, is ours: no server-side cursors and no
# prepared statements (PgBouncer 1.18 keeps none). What needs a session (the feed's LISTEN) connects directly to the
# primary's server, at DATABASE_DIRECT_URL, as do the worker's session advisory locks.
DATABASE_POOLER = os.environ.get("DATABASE_POOLER", "")
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f"DATABASE_POOLER must be pgbouncer or empty, not {DATABASE_POOLER!r}")
if DATABASE_POOLER and "postgresql" not in DATABASES["default"]["ENGINE"]:
    DATABASE_POOLER = ""  # an SQLite file has no pooler
if DATABASE_POOLER:
    for database in DATABASES.values():
        database["DISABLE_SERVER_SIDE_CURSORS"] = True
        database.setdefault("OPTIONS", {})["prepare_threshold"] = None
DATABASE_DIRECT = (
    dj_database_url.parse(os.environ["DATABASE_DIRECT_URL"]) if os.environ.get("DATABASE_DIRECT_URL") else None
)
if DATABASE_POOLER and DATABASE_DIRECT is None:
    raise ImproperlyConfigured("DATABASE_POOLER=pgbouncer needs DATABASE_DIRECT_URL: the primary, not the pooler")
# A replica that has not replayed WAL the primary wrote longer ago than this is skipped (the primary answers).
DEVMANAGER_REPLICA_MAX_LAG_SECONDS = env_float("DEVMANAGER_REPLICA_MAX_LAG_SECONDS", 5.0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve static files from the apps too, so a missing collectstatic never breaks the admin.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security ------------------------------------------------------------------------------------------------------

# Plain HTTP is redirected (GET/HEAD) or refused (other methods); the local quick start turns this off.
DEVMANAGER_REQUIRE_HTTPS = env_bool("DEVMANAGER_REQUIRE_HTTPS", True)
# Proxies whose X-Forwarded-Proto header is believed (addresses, comma-separated).
DEVMANAGER_TRUSTED_PROXIES = env_list("DEVMANAGER_TRUSTED_PROXIES", "127.0.0.1,::1")
SESSION_COOKIE_SECURE = DEVMANAGER_REQUIRE_HTTPS
CSRF_COOKIE_SECURE = DEVMANAGER_REQUIRE_HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# When set, /metrics answers only `Authorization: Bearer <this token>` (Prometheus' `authorization` scrape setting).
DEVMANAGER_METRICS_TOKEN = os.environ.get("DEVMANAGER_METRICS_TOKEN", "")


# --- Limits ----------------------------------------------------------------------------------------------------------

DEVMANAGER_MAX_BODY_BYTES = env_int("DEVMANAGER_MAX_BODY_BYTES", 1024 * 1024)
# Longer request lines get 414 uri_too_long (gunicorn passes them through: devmanager/gunicorn.conf.py).
DEVMANAGER_MAX_URL_BYTES = env_int("DEVMANAGER_MAX_URL_BYTES", 16 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = DEVMANAGER_MAX_BODY_BYTES
DEVMANAGER_METADATA_MAX_BYTES = 64 * 1024
DEVMANAGER_PAGE_SIZE_DEFAULT = 25
DEVMANAGER_PAGE_SIZE_MAX = 1000
DEVMANAGER_RECENT_EVENTS = 20
DEVMANAGER_MAX_FILTERS = env_int("DEVMANAGER_MAX_FILTERS", 20)
DEVMANAGER_MAX_FILTER_LENGTH = env_int("DEVMANAGER_MAX_FILTER_LENGTH", 1024)
DEVMANAGER_MAX_JSONPATH_LENGTH = env_int("DEVMANAGER_MAX_JSONPATH_LENGTH", 512)

# --- The fleet feed ---------------------------------------------------------------------------------------------------

# Days the feed keeps events; `manage.py prune_events` removes older ones.
DEVMANAGER_EVENT_RETENTION_DAYS = env_int("DEVMANAGER_EVENT_RETENTION_DAYS", 90)
# Seconds a Server-Sent Events stream of the feed lasts before the server ends it (the client reconnects).
DEVMANAGER_SSE_MAX_SECONDS = env_int("DEVMANAGER_SSE_MAX_SECONDS", 300)
# Streams one server process serves at once (each holds a thread); one more is answered 429.
DEVMANAGER_SSE_MAX_STREAMS = env_int("DEVMANAGER_SSE_MAX_STREAMS", 8)
# Webhook deliveries (contract, section 7): each POST's time limit; how long an event is retried before the
# subscription is disabled; destinations on private networks and plain HTTP (refused unless allowed: tests, labs);
# how many subscriptions one worker serves at once (a failing endpoint holds one thread, not the others).
DEVMANAGER_WEBHOOK_TIMEOUT = env_float("DEVMANAGER_WEBHOOK_TIMEOUT", 10.0)
DEVMANAGER_WEBHOOK_GIVE_UP_HOURS = env_float("DEVMANAGER_WEBHOOK_GIVE_UP_HOURS", 72.0)
DEVMANAGER_WEBHOOK_ALLOW_PRIVATE = env_bool("DEVMANAGER_WEBHOOK_ALLOW_PRIVATE", False)
DEVMANAGER_WEBHOOK_ALLOW_HTTP = env_bool("DEVMANAGER_WEBHOOK_ALLOW_HTTP", False)
# The CA certificates (a PEM file) that receivers' certificates are checked against, instead of the public CAs
# (certifi's): for receivers on a private network with a CA of its own.
DEVMANAGER_WEBHOOK_CA_FILE = os.environ.get("DEVMANAGER_WEBHOOK_CA_FILE", "")
if DEVMANAGER_WEBHOOK_CA_FILE:
    try:  # a file that holds no certificate would fail every delivery: refused here instead
        ssl.create_default_context(cafile=DEVMANAGER_WEBHOOK_CA_FILE)
    except OSError as exc:  # ssl.SSLError too
        raise ImproperlyConfigured(
            f"DEVMANAGER_WEBHOOK_CA_FILE is not a file of CA certificates: {DEVMANAGER_WEBHOOK_CA_FILE!r} ({exc})"
        ) from exc
DEVMANAGER_WEBHOOK_THREADS = env_int("DEVMANAGER_WEBHOOK_THREADS", 8)

# --- Fleet actions (contract, section 9) ------------------------------------------------------------------------------

# Devices one transaction of a job acts on (at most 1,000); jobs one worker runs at once; how long a running job's
# worker may be silent before another worker takes the job over (it died).
DEVMANAGER_JOB_BATCH_SIZE = min(1000, max(1, env_int("DEVMANAGER_JOB_BATCH_SIZE", 1000)))
DEVMANAGER_JOB_THREADS = env_int("DEVMANAGER_JOB_THREADS", 2)
DEVMANAGER_JOB_STREAMS = max(1, env_int("DEVMANAGER_JOB_STREAMS", 2))
DEVMANAGER_JOB_HEARTBEAT_TIMEOUT = timedelta(seconds=env_float("DEVMANAGER_JOB_HEARTBEAT_TIMEOUT", 60.0))

# Requests per API key, e.g. "600/minute" (per second, minute, hour or day); empty turns the limit off.
DEVMANAGER_THROTTLE_RATE = env_rate("DEVMANAGER_THROTTLE_RATE")
# Where the counts live: "local" (each process counts alone) or "database" (shared by all processes and servers,
# in the table `manage.py createcachetable` makes).
DEVMANAGER_THROTTLE_CACHE = os.environ.get("DEVMANAGER_THROTTLE_CACHE", "local")
# One entry per key that has made a request. Past MAX_ENTRIES, each write deletes a third of the entries, other keys'
# live histories among them (whose counts then start anew): Django's default of 300 would let the keys of a large
# fleet past their limit.
THROTTLE_MAX_KEYS = 1_000_000
THROTTLE_CACHES = {
    "local": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "throttle",
        "OPTIONS": {"MAX_ENTRIES": THROTTLE_MAX_KEYS},
    },
    "database": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "devmanager_cache",
        "OPTIONS": {"MAX_ENTRIES": THROTTLE_MAX_KEYS},
    },
}
if DEVMANAGER_THROTTLE_CACHE not in THROTTLE_CACHES:
    raise ImproperlyConfigured(
        f"DEVMANAGER_THROTTLE_CACHE must be local or database, not {DEVMANAGER_THROTTLE_CACHE!r}"
    )
CACHES = {
    # Django's default; the API keeps nothing in it (a key is read from the database on each request).
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": THROTTLE_CACHES[DEVMANAGER_THROTTLE_CACHE],
}

# refresh_device_status: days before the identity's expiration_date at which a device enters each status.
DEVMANAGER_RENEWAL_WINDOW_DAYS = env_int("DEVMANAGER_RENEWAL_WINDOW_DAYS", 30)
DEVMANAGER_ABOUT_TO_EXPIRE_DAYS = env_int("DEVMANAGER_ABOUT_TO_EXPIRE_DAYS", 7)

# Group member counts (groups/counting.py, docs/console.md): a count older than this many seconds is stale, and a page
# that shows counts (the group tree, the dashboard) recounts its stale groups for at most this many seconds.
DEVMANAGER_GROUP_COUNT_MAX_AGE = env_int("DEVMANAGER_GROUP_COUNT_MAX_AGE", 600)
DEVMANAGER_GROUP_COUNT_BUDGET = env_float("DEVMANAGER_GROUP_COUNT_BUDGET", 0.3)

# --- REST framework ------------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "devmanager.api.authentication.ApiKeyAuthentication",
        "devmanager.api.authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["devmanager.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["devmanager.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["devmanager.api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["devmanager.api.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "devmanager.api.views.JsonOnlyNegotiation",
    "EXCEPTION_HANDLER": "devmanager.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "devmanager.api.schema.AutoSchema",
    "DATETIME_FORMAT": TIMESTAMP_FORMAT,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "devmanager API",
    "DESCRIPTION": (
        "The device registry: devices, identity slots, metadata, dynamic groups and network adapters. "
        "Authenticate with `Authorization: Bearer ak_<32 hex>`. Every response carries `X-Request-ID`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DeviceStatusEnum": "devices.choices.DeviceStatus",
        "EventTypeEnum": "devices.choices.EventType",
        "AdapterTypeEnum": "adapters.models.AdapterType",
        "WebhookStatusEnum": "webhooks.models.SubscriptionStatus",
        "JobStatusEnum": "fleet.models.JobStatus",
        "DeviceActionEnum": "fleet.models.Action",
        "DeliveryOutcomeEnum": "webhooks.models.DeliveryOutcome",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "devmanager.api.schema.add_response_headers",
    ],
}

# --- Logging ---------------------------------------------------------------------------------------------------------

# "text" for people at a terminal, "json" (one object per line, with the request ID) for log collectors.
DJANGO_LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT", "text")
if DJANGO_LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be text or json, not {DJANGO_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "devmanager.api.request_id.RequestIdLogFilter"},
        "redact_api_keys": {"()": "devmanager.api.request_id.RedactApiKeyFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        # One JSON object per line for log collectors; extra fields (the access log's status, duration_ms...)
        # become keys of their own.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": DJANGO_LOG_FORMAT,
            "filters": ["request_id", "redact_api_keys"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Our middleware logs every error with its request ID; Django's own copy would be a duplicate.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        # devmanager.access logs every request with its ID; the development server's own access log would
        # repeat it without one.
        "django.server": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
