"""Tributary settings: one file, every knob an environment variable with a default that works on a laptop.

The embedded default is SQLite in the project folder and Celery running tasks in-process. Production sets
DATABASE_URL (PostgreSQL), DJANGO_SECRET_KEY, ALLOWED_HOSTS and CELERY_BROKER_URL.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
# Where the embedded default keeps its files (SQLite database, generated development keys, collected static).
VAR_DIR = Path(os.environ.get("TRIBUTARY_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _development_secret_key() -> str:
    """A key generated once per checkout, so sessions survive restarts without a key in the repository."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _development_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "governance",
    "lineage",
    "compliance",
]

MIDDLEWARE = [
    "governance.observability.RequestIdMiddleware",
    "governance.audit.AuditContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Content-Security-Policy on every answer (CONTENT_SECURITY_POLICY below).
    "governance.csp.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "governance.sessions.SessionPolicyMiddleware",
    "governance.mfa.MFARequiredMiddleware",
    # Last, as django-axes asks: it turns a lockout into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"

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

# Database: SQLite file by default, DATABASE_URL=postgresql://127.0.0.1:5432/NAME for production.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
        "TRIBUTARY_DB_PREPARED_STATEMENTS", True
    ):
        # Parameters bound by the server, and a query run 5 times on a connection prepared there (psycopg): it is
        # planned once, not on every request. Planning was most of the time of the small lineage queries (1 ms of
        # 1.1 for the permission query). Turn off behind PgBouncer's transaction pooling before 1.21.
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "tributary.sqlite3",
            "OPTIONS": {
                # WAL lets readers work while one writer commits; IMMEDIATE takes the write lock at BEGIN so
                # two writers queue on busy_timeout instead of failing on a lock upgrade.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
# The embedded default (no DATABASE_URL): a laptop or a demo, where conveniences such as demo users are allowed.
TRIBUTARY_EMBEDDED = not DATABASE_URL
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out login is refused before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "governance.backends.RoleBackend",
    "guardian.backends.ObjectPermissionBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "governance.validators.ComplexityValidator", "OPTIONS": {"classes": 3}},
]

# Sessions: the seed's 480-minute lifetime, plus an idle timeout; both enforced by governance.sessions.
TRIBUTARY_SESSION_TIMEOUT_MINUTES = int(os.environ.get("TRIBUTARY_SESSION_TIMEOUT_MINUTES", 480))
TRIBUTARY_SESSION_IDLE_MINUTES = int(os.environ.get("TRIBUTARY_SESSION_IDLE_MINUTES", 60))
SESSION_COOKIE_AGE = TRIBUTARY_SESSION_TIMEOUT_MINUTES * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Transport: production is HTTPS only. Cookies are Secure, plain HTTP is redirected to HTTPS (except the probes a
# load balancer or a scraper sends to the app's own port), and browsers are told to come back over HTTPS only
# (HSTS, a year, subdomains included). TRIBUTARY_PLAIN_HTTP=1 is the one switch for plain-HTTP use on one's own
# machine; it is on by default for the embedded default and under DEBUG, where there is no TLS to be had. The old
# TRIBUTARY_SECURE_COOKIES=1 still turns it off.
TRIBUTARY_PLAIN_HTTP = env_bool(
    "TRIBUTARY_PLAIN_HTTP", (TRIBUTARY_EMBEDDED or DEBUG) and not env_bool("TRIBUTARY_SECURE_COOKIES", False)
)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not TRIBUTARY_PLAIN_HTTP
# The pages read the CSRF token from the form, never from the cookie: scripts have no need to see it.
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = not TRIBUTARY_PLAIN_HTTP
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = 0 if TRIBUTARY_PLAIN_HTTP else int(os.environ.get("TRIBUTARY_HSTS_SECONDS", 365 * 24 * 3600))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading commits the whole registered domain to HTTPS in every browser, for months: the operator's call, off
# unless asked for (and the deployment check's reminder about it is silenced below while it is off).
SECURE_HSTS_PRELOAD = env_bool("TRIBUTARY_HSTS_PRELOAD", False)
# A TLS-terminating proxy in front says the client's scheme in X-Forwarded-Proto. Believed only when the operator
# says such a proxy sets (overwrites) it; otherwise any client could claim HTTPS.
if env_bool("TRIBUTARY_PROXY_SETS_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
# Page addresses name datasets and jobs: other sites are not told them.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Who may scrape /metrics (governance.views.metrics): these addresses or networks (the real peer, or the client a
# TRIBUTARY_TRUSTED_PROXIES proxy names), anyone sending `Authorization: Bearer <TRIBUTARY_METRICS_TOKEN>`, or,
# with TRIBUTARY_METRICS_PUBLIC=1, everyone. /healthz stays open for load balancers.
TRIBUTARY_METRICS_ALLOWED_IPS = env_list("TRIBUTARY_METRICS_ALLOWED_IPS", "127.0.0.1,::1")
TRIBUTARY_METRICS_TOKEN = os.environ.get("TRIBUTARY_METRICS_TOKEN", "")
TRIBUTARY_METRICS_PUBLIC = env_bool("TRIBUTARY_METRICS_PUBLIC", False)

# API tokens expire after these many days unless made with an explicit expiry (0: no default expiry). Ingest
# tokens live in Airflow's configuration, which is rotated less often than a script's read token.
TRIBUTARY_TOKEN_LIFETIME_DAYS = int(os.environ.get("TRIBUTARY_TOKEN_LIFETIME_DAYS", 90))
TRIBUTARY_INGEST_TOKEN_LIFETIME_DAYS = int(os.environ.get("TRIBUTARY_INGEST_TOKEN_LIFETIME_DAYS", 365))

# Second factor (TOTP, with recovery codes) for these roles.
TRIBUTARY_MFA_REQUIRED_ROLES = env_list("TRIBUTARY_MFA_REQUIRED_ROLES", "developer,auditor,admin")
OTP_TOTP_ISSUER = "Tributary"

# Login throttling (governance.throttling): a username from one address after 5 failures, an address after 20;
# lockouts end after 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("TRIBUTARY_LOGIN_FAILURE_LIMIT", 5))
TRIBUTARY_LOGIN_IP_FAILURE_LIMIT = int(os.environ.get("TRIBUTARY_LOGIN_IP_FAILURE_LIMIT", 20))
AXES_COOLOFF_TIME = float(os.environ.get("TRIBUTARY_LOGIN_COOLOFF_MINUTES", 15)) / 60
TRIBUTARY_LOGIN_USER_FAILURE_LIMIT = int(os.environ.get("TRIBUTARY_LOGIN_USER_FAILURE_LIMIT", 50))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address", "username"]
AXES_HANDLER = "governance.throttling.TributaryAxesHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# The address a failure is counted against: the real client (X-Forwarded-For believed only from
# TRIBUTARY_TRUSTED_PROXIES), as the audit trail records it. Without it, behind a proxy every login would come from
# the proxy's address, and five wrong passwords from anyone would lock a user out for everybody.
AXES_CLIENT_IP_CALLABLE = "governance.audit.request_client_ip"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without collectstatic (the embedded default), WhiteNoise serves the files straight from STATICFILES_DIRS.
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# Bodies are read by the ingestion views themselves, which answer 413 with their own limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["governance.permissions.RolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "governance.api.handler.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tributary API",
    "DESCRIPTION": "OpenLineage ingestion, lineage reads (Marquez-compatible), governance and compliance.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The JSON shapes every operation answers (and the OpenLineage events it takes), as components: each app
    # describes its own in an `openapi` module, only when the schema is generated, never per request.
    # Path parameters as the routes' converters accept them: another value is not a route of the API.
    "PATH_CONVERTER_OVERRIDES": {
        "int": {"type": "integer", "minimum": 0},
        "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
        "path": {"type": "string", "pattern": "^[^\\n]+$"},
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "governance.openapi.add_components",
        "lineage.api.openapi.add_components",
        "compliance.openapi.add_components",
    ],
}

# Content-Security-Policy (django-csp): the browser runs only scripts and styles served from here as files, or inline
# ones carrying this request's nonce (the Swagger UI page), so markup that reaches a page runs no code. No
# 'unsafe-inline' and no 'unsafe-eval': the pages, the admin, Swagger UI and cytoscape need neither.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # data: for the empty favicon and the images inside Swagger UI's and the admin's stylesheets.
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Celery: no broker means tasks run eagerly in the calling process (the embedded default).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    # Safety net: derive anything a lost wake-up message left pending (broker down at commit time).
    "derive-pending": {"task": "lineage.tasks.derive_pending", "schedule": 30.0},
    # Compliance checks on a schedule, so the rate over a period rests on real, dated results.
    "compliance-checks": {
        "task": "compliance.tasks.run_checks",
        "schedule": float(os.environ.get("TRIBUTARY_CHECK_INTERVAL_SECONDS", 3600)),
    },
}
# Ed25519 key (PEM, 0600) that signs compliance reports; the embedded default generates one in VAR_DIR.
TRIBUTARY_REPORT_SIGNING_KEY_FILE = os.environ.get("TRIBUTARY_REPORT_SIGNING_KEY_FILE", "")

# Encryption of connection secrets (governance.crypto): keys newest first, from the list or a 0600 file.
TRIBUTARY_FERNET_KEYS = env_list("TRIBUTARY_FERNET_KEYS", "")
TRIBUTARY_FERNET_KEY_FILE = os.environ.get("TRIBUTARY_FERNET_KEY_FILE", "")
# Re-authentication needed before a secret is revealed.
TRIBUTARY_REAUTH_SECONDS = int(os.environ.get("TRIBUTARY_REAUTH_SECONDS", 300))

# Ingestion.
TRIBUTARY_MAX_EVENT_BYTES = int(os.environ.get("TRIBUTARY_MAX_EVENT_BYTES", 5 * 1024 * 1024))
TRIBUTARY_MAX_BATCH_BYTES = int(os.environ.get("TRIBUTARY_MAX_BATCH_BYTES", 50 * 1024 * 1024))
TRIBUTARY_DERIVE_BATCH_SIZE = int(os.environ.get("TRIBUTARY_DERIVE_BATCH_SIZE", 500))
# Celery workers lower their CPU priority by this much (os.nice) at start: see governance/celery.py.
TRIBUTARY_WORKER_NICE = int(os.environ.get("TRIBUTARY_WORKER_NICE", 10))

# Audit trail (docs/audit.md).
# Proxies (IPs or CIDRs) whose X-Forwarded-For is believed for the source IP of audit records; none by default.
TRIBUTARY_TRUSTED_PROXIES = env_list("TRIBUTARY_TRUSTED_PROXIES", "")
# What `manage.py audit_retention` keeps when not told otherwise: ten years.
TRIBUTARY_AUDIT_RETENTION_DAYS = int(os.environ.get("TRIBUTARY_AUDIT_RETENTION_DAYS", 3650))
# Benchmark only (bench_audit's on/off comparison): off, nothing is recorded. Never turn it off in production.
TRIBUTARY_AUDIT_ENABLED = env_bool("TRIBUTARY_AUDIT_ENABLED", True)

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "governance.observability.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Refused requests are answered and counted; a line per 4xx would drown the log under load.
        "django.request": {"level": "ERROR"},
        "axes": {"level": "WARNING"},
    },
}
SILENCED_SYSTEM_CHECKS = ["models.W040"]  # SQLite ignores the covering columns of PostgreSQL indexes: fine.
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")  # HSTS preloading is left to the operator (see Transport)
# django-guardian's anonymous user is not used (anonymous visitors read nothing): do not create it.
ANONYMOUS_USER_NAME = None
