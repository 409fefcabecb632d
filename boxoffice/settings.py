"""The one settings module. Configuration comes from environment variables only (12-factor);
`.env` is read if present. Every variable has a working local default, so `make run` needs none.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from boxoffice.lib import local_defaults
from boxoffice.lib.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_proxy_ssl_header,
    env_str,
)
from boxoffice.lib.keys import fernet_key_new, secret_key_new

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")

BOXOFFICE_ENV = env_str("BOXOFFICE_ENV", "local")  # local | production
PRODUCTION = BOXOFFICE_ENV == "production"
VAR_DIR = Path(env_str("BOXOFFICE_VAR_DIR", str(BASE_DIR / "var"))).resolve()
if not VAR_DIR.exists():
    # It holds the local secrets and the SQLite database: its owner's eyes only. An existing
    # directory is left as its owner set it up.
    VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    VAR_DIR.chmod(0o700)


def _local_default(value: str) -> str:
    """A default that only makes sense on a developer's machine: empty in production, where
    it must be configured (boxoffice.runtime.production refuses what is missing)."""
    return "" if PRODUCTION else value


def _local_secret(name: str, env_name: str, generate) -> str:
    """A secret from the environment; locally, generated once into ./var/ and reused."""
    value = env_str(env_name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(
            f"{env_name} must be set when BOXOFFICE_ENV=production "
            f"(generate one with: boxoffice generate-keys)"
        )
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(generate())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _local_secret("secret_key", "SECRET_KEY", secret_key_new)
FIELD_ENCRYPTION_KEYS = [
    k.strip()
    for k in _local_secret("field_encryption_key", "FIELD_ENCRYPTION_KEYS", fernet_key_new).split(
        ","
    )
    if k.strip()
]
DEBUG = env_bool("DEBUG", not PRODUCTION)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Absolute base URL used in e-mails and gateway callbacks.
SITE_URL = env_str("SITE_URL", _local_default(local_defaults.SITE_URL)).rstrip("/")
# In production the site's own host by default (Django answers 400 to any other Host header).
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    [urlsplit(SITE_URL).hostname or ""]
    if PRODUCTION
    else ["localhost", "127.0.0.1", "[::1]", "testserver"],
)
SITE_NAME = env_str("SITE_NAME", "Boxoffice Demo TV")
SUPPORT_EMAIL = env_str("SUPPORT_EMAIL", "support@boxoffice.localhost")

# The development tools (panel and Stripe emulators, the local inbox and its back-office pages)
# are a package beside the product, boxoffice_dev, installed with the `dev` extra for `make run`
# and the tests. Never in production; the product never imports it, settings only name it.
DEV_TOOLS_APP = "boxoffice_dev"
DEV_TOOLS = not PRODUCTION and importlib.util.find_spec(DEV_TOOLS_APP) is not None

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "boxoffice.lib",
    "boxoffice.audit",
    "boxoffice.catalog",
    "boxoffice.customers",
    "boxoffice.panels",
    "boxoffice.billing",
    "boxoffice.provisioning",
    "boxoffice.messaging",
    "boxoffice.storefront",
    "boxoffice.portal",
    "boxoffice.support",
    "boxoffice.insights",
    "boxoffice.api",
    "boxoffice.runtime",
    *([DEV_TOOLS_APP] if DEV_TOOLS else []),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "boxoffice.lib.csp.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The customer's language: the one chosen at checkout (cookie, set_language), else the
    # browser's Accept-Language, else English. URLs carry no language prefix.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "boxoffice.urls"
WSGI_APPLICATION = "boxoffice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "boxoffice" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "boxoffice.lib.context_processors.site",
                "boxoffice.billing.context_processors.prices",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
# Embedded default: SQLite in WAL mode. Several processes (web, worker) share the file, so writers
# take the lock up front (IMMEDIATE) and wait for it (timeout) instead of failing with
# "database is locked" half-way through a transaction.
SQLITE_PATH = Path(env_str("BOXOFFICE_SQLITE_PATH", str(VAR_DIR / "boxoffice.sqlite3")))
if env_str("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL"), conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"].setdefault("OPTIONS", {})
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"].update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        }
    )
    # Tests use a file, not :memory:, so worker subprocesses in multi-process tests can open it;
    # one per test run, so concurrent runs never share it.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env_str(
        "BOXOFFICE_TEST_SQLITE_PATH",
        str(Path(tempfile.gettempdir()) / f"boxoffice-test-{os.getpid()}.sqlite3"),
    )
    # Django's backend, creating the database files 0600 (they hold customers' data).
    DATABASES["default"]["ENGINE"] = "boxoffice.lib.sqlite"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Background work ------------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": [],
    }
}
# How often an idle worker looks for new tasks (seconds). Short: a paid order must not wait.
WORKER_POLL_INTERVAL = env_float("WORKER_POLL_INTERVAL", 0.05)
WORKER_THREADS = env_int("WORKER_THREADS", 4)
# Workers are woken when a task is queued (runtime/wakeup.py), and the scheduler wakes a thread
# each pass while any task is queued (one queued to run later comes due without a wake-up); this
# slow poll is the last fallback (a worker without a scheduler) and all an idle thread does.
WORKER_IDLE_POLL_SECONDS = env_float("WORKER_IDLE_POLL_SECONDS", 5.0)
# How often the worker's scheduler re-drives due/stuck operations and probes down panels.
SCHEDULER_INTERVAL = env_float("SCHEDULER_INTERVAL", 1.0)
# The worker's GIL switch interval (sys.setswitchinterval): how long a thread woken for new work
# may wait while another thread runs Python.
WORKER_SWITCH_INTERVAL_SECONDS = env_float("WORKER_SWITCH_INTERVAL_SECONDS", 0.001)
# Each worker's scheduler writes its heartbeat row this often; a row older than the stale limit
# means the worker (or its scheduler) is gone, and the back office says so.
WORKER_HEARTBEAT_SECONDS = env_float("WORKER_HEARTBEAT_SECONDS", 5.0)
WORKER_HEARTBEAT_STALE_SECONDS = env_float("WORKER_HEARTBEAT_STALE_SECONDS", 30.0)
# Successful task rows are deleted this long after they finished (the rows of the product's own
# tables are the record; a task row is only the fast path's ticket).
TASK_ROWS_KEEP_SECONDS = env_float("TASK_ROWS_KEEP_SECONDS", 600.0)

# --- Provisioning policy --------------------------------------------------------------------
PROVISIONING = {
    # Backoff: base * 2**(attempt-1), capped, with +/- jitter fraction.
    "RETRY_BASE_SECONDS": env_float("PROVISIONING_RETRY_BASE_SECONDS", 2.0),
    "RETRY_CAP_SECONDS": env_float("PROVISIONING_RETRY_CAP_SECONDS", 900.0),
    "RETRY_JITTER": env_float("PROVISIONING_RETRY_JITTER", 0.2),
    # Past either limit an operation stops and waits for an operator (needs_review).
    "MAX_ATTEMPTS": env_int("PROVISIONING_MAX_ATTEMPTS", 12),
    "MAX_AGE_SECONDS": env_int("PROVISIONING_MAX_AGE_SECONDS", 6 * 3600),
    # A running operation whose worker vanished is re-driven after its lease runs out.
    "LEASE_SECONDS": env_float("PROVISIONING_LEASE_SECONDS", 60.0),
    # Circuit breaker: this many consecutive transient failures mark a panel down.
    "CIRCUIT_FAILURE_THRESHOLD": env_int("PANEL_CIRCUIT_FAILURE_THRESHOLD", 3),
    "PROBE_INTERVAL_SECONDS": env_float("PANEL_PROBE_INTERVAL_SECONDS", 15.0),
    # A panel just marked down is probed after this, then less often (a quarter of the outage's
    # age so far) up to the interval above.
    "PROBE_FIRST_SECONDS": env_float("PANEL_PROBE_FIRST_SECONDS", 1.0),
    # A panel that is back must stay up this long before its incident closes ("back up" alert);
    # going down again within it continues the same incident instead of opening a new one.
    "INCIDENT_HOLD_DOWN_SECONDS": env_float("PANEL_INCIDENT_HOLD_DOWN_SECONDS", 600.0),
    # Every panel call of one operation attempt ends within this (total, not per read); kept
    # below the lease so a slow panel cannot make a second worker take the same operation.
    "OPERATION_DEADLINE_SECONDS": env_float("PROVISIONING_OPERATION_DEADLINE_SECONDS", 40.0),
    # How often a panel that is up is health-checked anyway.
    "HEALTH_CHECK_SECONDS": env_float("PANEL_HEALTH_CHECK_SECONDS", 60.0),
    # After this many seconds of delay the customer gets one "short delay" message.
    "DELAY_NOTICE_SECONDS": env_int("PROVISIONING_DELAY_NOTICE_SECONDS", 180),
}

# Payments left pending longer than this (hours, per gateway) go to the operator's review queue.
PAYMENT_PENDING_TIMEOUT_HOURS = {
    "manual": env_int("BANK_TRANSFER_TIMEOUT_HOURS", 72),
    "stripe": env_int("STRIPE_PENDING_TIMEOUT_HOURS", 72),
    # Crypto waits for confirmations (and a part-paid invoice for the rest) at most this long.
    "btcpay": env_int("BTCPAY_PENDING_TIMEOUT_HOURS", 24),
    "nowpayments": env_int("NOWPAYMENTS_PENDING_TIMEOUT_HOURS", 24),
    # eCheck captures settle in up to about a week.
    "paypal": env_int("PAYPAL_PENDING_TIMEOUT_HOURS", 168),
}

# Panel kinds that are experimental and off unless listed here (e.g. "nxt": it drives the panel's
# web forms, there is no API). Comma-separated.
BOXOFFICE_EXPERIMENTAL_PANEL_KINDS = env_list("BOXOFFICE_EXPERIMENTAL_PANEL_KINDS", [])

# --- Payment gateways -----------------------------------------------------------------------
PAYMENT_GATEWAYS = env_list("PAYMENT_GATEWAYS", ["stripe", "manual"])
# Set: PAYMENT_GATEWAYS alone decides which gateways are offered. Unset: the back office's
# enabled payment gateways do, once any exists (billing.gateways.registry).
PAYMENT_GATEWAYS_FROM_ENV = bool(os.environ.get("PAYMENT_GATEWAYS", "").strip())
# The emulator's secrets and the demo account are defaults only outside production; a production
# start refuses them even when set explicitly (boxoffice.runtime.production).
BANK_TRANSFER_DETAILS = env_str(
    "BANK_TRANSFER_DETAILS", _local_default(local_defaults.BANK_TRANSFER_DETAILS)
).replace("\\n", "\n")
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", _local_default(local_defaults.STRIPE_SECRET_KEY))
STRIPE_WEBHOOK_SECRET = env_str(
    "STRIPE_WEBHOOK_SECRET", _local_default(local_defaults.STRIPE_WEBHOOK_SECRET)
)
# Point the SDK at the local Stripe emulator (make run) or leave empty for api.stripe.com.
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "")
# BTCPay Server (Greenfield API): the server, the store, an API key, the store webhook's secret.
BTCPAY_URL = env_str("BTCPAY_URL", _local_default(local_defaults.BTCPAY_URL))
BTCPAY_STORE_ID = env_str("BTCPAY_STORE_ID", _local_default(local_defaults.BTCPAY_STORE_ID))
BTCPAY_API_KEY = env_str("BTCPAY_API_KEY", _local_default(local_defaults.BTCPAY_API_KEY))
BTCPAY_WEBHOOK_SECRET = env_str(
    "BTCPAY_WEBHOOK_SECRET", _local_default(local_defaults.BTCPAY_WEBHOOK_SECRET)
)
# NOWPayments: the API key, the IPN secret; the API base only to point at the local emulator.
NOWPAYMENTS_API_KEY = env_str(
    "NOWPAYMENTS_API_KEY", _local_default(local_defaults.NOWPAYMENTS_API_KEY)
)
NOWPAYMENTS_IPN_SECRET = env_str(
    "NOWPAYMENTS_IPN_SECRET", _local_default(local_defaults.NOWPAYMENTS_IPN_SECRET)
)
NOWPAYMENTS_API_BASE = env_str(
    "NOWPAYMENTS_API_BASE", _local_default(local_defaults.NOWPAYMENTS_API_BASE)
)
# PayPal (Orders v2): the REST app's credentials and the id of its webhook for
# SITE_URL/billing/webhooks/paypal/. PAYPAL_API_BASE empty = PayPal live (api-m.paypal.com);
# https://api-m.sandbox.paypal.com for the sandbox; the local emulator under make run.
PAYPAL_CLIENT_ID = env_str("PAYPAL_CLIENT_ID", _local_default(local_defaults.PAYPAL_CLIENT_ID))
PAYPAL_CLIENT_SECRET = env_str(
    "PAYPAL_CLIENT_SECRET", _local_default(local_defaults.PAYPAL_CLIENT_SECRET)
)
PAYPAL_WEBHOOK_ID = env_str("PAYPAL_WEBHOOK_ID", _local_default(local_defaults.PAYPAL_WEBHOOK_ID))
PAYPAL_API_BASE = env_str("PAYPAL_API_BASE", "")

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 1025)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", f"{SITE_NAME} <noreply@boxoffice.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# DKIM signing by Boxoffice itself, for a plain SMTP relay that does not sign (a mail provider
# through anymail signs on its side). The key's PEM in DKIM_PRIVATE_KEY or a file; the public
# half in DNS at <DKIM_SELECTOR>._domainkey.<DKIM_DOMAIN> (`boxoffice dkim-keygen`).
DKIM_PRIVATE_KEY = env_str("DKIM_PRIVATE_KEY")
DKIM_PRIVATE_KEY_FILE = env_str("DKIM_PRIVATE_KEY_FILE")
DKIM_SELECTOR = env_str("DKIM_SELECTOR", "boxoffice")
DKIM_DOMAIN = env_str("DKIM_DOMAIN")  # empty: the domain of DEFAULT_FROM_EMAIL
_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
if (DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE) and EMAIL_BACKEND == _SMTP_BACKEND:
    EMAIL_BACKEND = "boxoffice.messaging.dkim.DkimSmtpEmailBackend"
# A mail provider through django-anymail instead of SMTP: ANYMAIL_ESP names it (postmark,
# mailgun, amazon_ses, sendgrid, brevo, resend, ...); every other ANYMAIL_<NAME> variable is
# anymail's <NAME> setting (ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_WEBHOOK_SECRET="user:pass").
# Its bounce and complaint webhook is served at /mail/events/<esp>/tracking/ only with a
# WEBHOOK_SECRET: without one anyone could stop a customer's mail by posting a fake bounce.
ANYMAIL_ESP = env_str("ANYMAIL_ESP").strip().lower()
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_") and name != "ANYMAIL_ESP"
}
if ANYMAIL_ESP and EMAIL_BACKEND == _SMTP_BACKEND:
    EMAIL_BACKEND = f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"
# Mail delivery (the outbox): a message the relay did not take is retried with exponential
# backoff and jitter; past either limit it goes to the review queue (one operator alert).
MESSAGING = {
    "RETRY_BASE_SECONDS": env_float("MAIL_RETRY_BASE_SECONDS", 5.0),
    "RETRY_CAP_SECONDS": env_float("MAIL_RETRY_CAP_SECONDS", 900.0),
    "RETRY_JITTER": env_float("MAIL_RETRY_JITTER", 0.2),
    "MAX_ATTEMPTS": env_int("MAIL_MAX_ATTEMPTS", 15),
    "MAX_AGE_SECONDS": env_int("MAIL_MAX_AGE_SECONDS", 24 * 3600),
    # A sender that vanished mid-send (killed) gives its rows back after this.
    "LEASE_SECONDS": env_float("MAIL_LEASE_SECONDS", 60.0),
    # The scheduler leaves fresh rows to the fast path (sent right after commit) this long.
    "FAST_PATH_GRACE_SECONDS": env_float("MAIL_FAST_PATH_GRACE_SECONDS", 5.0),
    # Most messages one scheduler pass sends, so it never starves the other re-drives.
    "BATCH_SIZE": env_int("MAIL_BATCH_SIZE", 200),
    # A sending thread keeps its session to the relay open between mails, up to this idle time
    # (below the relay's own idle timeout: Postfix's smtpd_timeout is 300 s).
    "CONNECTION_IDLE_SECONDS": env_float("MAIL_CONNECTION_IDLE_SECONDS", 30.0),
}
# The welcome sequence (provisioning/onboarding.py); offsets and switches are the operator's
# (back office: Welcome sequence settings). The activity poll is gentle: a new line is asked
# about at most every CHECK_INTERVAL, a batch per pass, only in its first week and only until
# it is seen watching.
ONBOARDING = {
    "PASS_SECONDS": env_float("ONBOARDING_PASS_SECONDS", 60.0),
    "FIRST_CHECK_SECONDS": env_int("ONBOARDING_FIRST_CHECK_SECONDS", 15 * 60),
    "CHECK_INTERVAL_SECONDS": env_int("ONBOARDING_CHECK_INTERVAL_SECONDS", 2 * 3600),
    # Before the day-1 mail's variant is decided, a line last checked longer ago is asked again.
    "FRESH_CHECK_SECONDS": env_int("ONBOARDING_FRESH_CHECK_SECONDS", 15 * 60),
    "CHECK_BATCH": env_int("ONBOARDING_CHECK_BATCH", 20),
    "SEND_BATCH": env_int("ONBOARDING_SEND_BATCH", 200),
}
# Operator alerts (panel down, operations needing review). Empty: every active staff user.
OPERATOR_ALERT_EMAILS = env_list("OPERATOR_ALERT_EMAILS", [])
# The local inbox of `make run`: where its SMTP server keeps what it received.
LOCAL_INBOX_DIR = Path(env_str("LOCAL_INBOX_DIR", str(VAR_DIR / "inbox")))

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "portal:login"
# Where a login without ?next= lands: the back office (the unfold login form posts no `next`
# field, so Django's default /accounts/profile/ answered 404). The portal's own view sets its own.
LOGIN_REDIRECT_URL = "admin:index"
LANGUAGE_CODE = "en"
# The languages of the shipped mails and the customer's pages (storefront, checkout, order
# status, portal); each has a complete catalogue in boxoffice/locale (a test refuses a gap).
LANGUAGES = [
    ("en", "English"),
    ("es", "Español"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("ar", "العربية"),
]
LOCALE_PATHS = [BASE_DIR / "boxoffice" / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- HTTP hardening -------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Behind a proxy that terminates TLS, Django sees plain http unless told which header the proxy
# sets: SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO means ("HTTP_X_FORWARDED_PROTO", "https").
# Set it only when the proxy always sets (overwrites) that header, or any client could claim
# https. Without it, SECURE_SSL_REDIRECT behind such a proxy redirects forever.
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# Load balancers probe /healthz over plain http and want a 200, not a redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
# Order-status and login-link addresses carry tokens: other sites never see our URLs.
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy (django-csp; Django 5.2 has none built in). Every public page
# (storefront, checkout, order status, portal) keeps to this: no inline script or style, nothing
# from other origins. No form-action: checkout answers its POST with a 303 to the payment
# gateway's own origin, which form-action would block.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}
# The back office (Django admin in the django-unfold theme, and our pages in its layout under
# /backoffice/, the local inbox among them) gets a looser policy, as loose as unfold needs and no
# looser (checked in Chromium, storefront/tests/test_browser_csp.py): Alpine.js evaluates its
# x-data/x-init attributes as code ('unsafe-eval'), and unfold sets style="" attributes and
# writes <style> elements ('unsafe-inline' for styles only). No inline script runs there either;
# still same-origin only and never framed. Only signed-in staff see more than the login page.
BACKOFFICE_URL_PREFIXES = ("/admin/", "/backoffice/")
BACKOFFICE_CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        **CONTENT_SECURITY_POLICY["DIRECTIVES"],
        "script-src": [SELF, UNSAFE_EVAL],
        "style-src": [SELF, UNSAFE_INLINE],
    }
}

# The cache holds login rate-limit counters, so every web process must see the same one: the
# database by default (no extra service), Redis when REDIS_URL is set.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "boxoffice_cache",
    }
}
if env_str("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env_str("REDIS_URL"),
        }
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Order and login tokens in URLs never reach a log: redacted on our handler, and at the
    # source for the loggers that write request paths (so Django's own handlers get it too).
    "filters": {"redact_secrets": {"()": "boxoffice.lib.logging.RedactSecretsFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"filters": ["redact_secrets"]},
        "django.security.csrf": {"filters": ["redact_secrets"]},
        # runserver's request lines (Django's default gives it a handler of its own).
        "django.server": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["redact_secrets"],
        },
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

UNFOLD = {
    "SITE_TITLE": "Boxoffice",
    "SITE_HEADER": "Boxoffice back office",
    "SITE_SYMBOL": "live_tv",
    "SHOW_HISTORY": True,
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": [
            {
                "title": "Operations",
                "items": [
                    {"title": "Review queue", "icon": "rule", "link": "/backoffice/review/"},
                    {"title": "Renewals", "icon": "event_repeat", "link": "/backoffice/renewals/"},
                    {
                        "title": "Welcome sequence",
                        "icon": "waving_hand",
                        "link": "/backoffice/welcome/",
                    },
                    {"title": "Orders", "icon": "receipt_long", "link": "/admin/billing/order/"},
                    {"title": "Lines", "icon": "live_tv", "link": "/admin/provisioning/line/"},
                    {
                        "title": "Panel operations",
                        "icon": "sync",
                        "link": "/admin/provisioning/paneloperation/",
                    },
                    {"title": "Panels", "icon": "dns", "link": "/admin/panels/panel/"},
                    {
                        "title": "Workers",
                        "icon": "monitor_heart",
                        "link": "/admin/provisioning/workerheartbeat/",
                    },
                    {"title": "Plans", "icon": "sell", "link": "/admin/catalog/plan/"},
                    {"title": "Coupons", "icon": "percent", "link": "/admin/billing/coupon/"},
                    {"title": "Invoices", "icon": "description", "link": "/admin/billing/invoice/"},
                    {
                        "title": "Mail templates",
                        "icon": "edit_note",
                        "link": "/admin/messaging/mailtemplate/mails/",
                    },
                    {
                        "title": "Payment gateways",
                        "icon": "payments",
                        "link": "/admin/billing/gatewayaccount/",
                    },
                    # The local inbox is mounted only with the development tools (boxoffice/urls.py).
                    *(
                        []
                        if not DEV_TOOLS
                        else [
                            {"title": "Local inbox", "icon": "mail", "link": "/backoffice/inbox/"}
                        ]
                    ),
                ],
            }
        ],
    },
}

# --- Customer accounts and sign-in ----------------------------------------------------------
# Customers sign in to the portal with their own logins (customers.backends); the back office
# with Django's (staff only). The two never answer each other's calls.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "boxoffice.customers.backends.CustomerBackend",
]
# Single-use sign-in links: one asked for on the sign-in page works for minutes; the one in the
# credentials e-mail for days (it may be read tomorrow), still only once.
SIGN_IN_LINK_MINUTES = env_int("SIGN_IN_LINK_MINUTES", 30)
# A renewal pay link (reminder mails) opens the renewal checkout of one line, this many days.
RENEWAL_PAY_LINK_DAYS = env_int("RENEWAL_PAY_LINK_DAYS", 30)
# How often the worker's scheduler walks the renewal lifecycle (reminders, grace, suspension).
RENEWAL_LIFECYCLE_SECONDS = env_float("RENEWAL_LIFECYCLE_SECONDS", 60.0)
# Reconciliation of our lines with each panel's (provisioning/drift.py): one pass per interval,
# a page of lines at a time with a pause between pages, so a panel of 100,000 lines is read
# slowly (XUI One: one get_lines plus one get_line per line in a page).
LINE_RECONCILE = {
    "INTERVAL_SECONDS": env_float("LINE_RECONCILE_INTERVAL_SECONDS", 86400.0),
    "PAGE_SIZE": env_int("LINE_RECONCILE_PAGE_SIZE", 100),
    "PAUSE_SECONDS": env_float("LINE_RECONCILE_PAUSE_SECONDS", 10.0),
    "LEASE_SECONDS": env_float("LINE_RECONCILE_LEASE_SECONDS", 600.0),
    # Our expiry and the panel's count as equal within this many seconds.
    "EXPIRY_TOLERANCE_SECONDS": env_float("LINE_RECONCILE_EXPIRY_TOLERANCE_SECONDS", 120.0),
}
SIGN_IN_WELCOME_LINK_DAYS = env_int("SIGN_IN_WELCOME_LINK_DAYS", 7)
# Panels: how often each panel's bouquets/packages are re-synced (one panel per scheduler pass),
# and whether `boxoffice apply` asks the panels whether the plans' mapped ids exist there.
PANEL_CATALOG_SYNC_SECONDS = env_float("PANEL_CATALOG_SYNC_SECONDS", 6 * 3600.0)
APPLY_CHECK_PANELS = env_bool("APPLY_CHECK_PANELS", True)
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_MINUTES", 60) * 60
SIGN_IN_LIMITS = {
    "WINDOW_SECONDS": env_int("SIGN_IN_LIMIT_WINDOW_MINUTES", 15) * 60,
    # Password attempts: per account and client address, per client address, per account.
    "PER_ADDRESS_AND_IP": env_int("SIGN_IN_LIMIT_PER_ADDRESS_AND_IP", 5),
    "PER_IP": env_int("SIGN_IN_LIMIT_PER_IP", 20),
    "PER_ADDRESS": env_int("SIGN_IN_LIMIT_PER_ADDRESS", 50),
    # E-mailed links and password resets (each request sends mail to a real inbox).
    "LINKS_PER_ADDRESS": env_int("SIGN_IN_LINKS_PER_ADDRESS", 5),
    "LINKS_PER_IP": env_int("SIGN_IN_LINKS_PER_IP", 20),
}
# Checkout submissions per client in SIGN_IN_LIMIT_WINDOW_MINUTES: each may create an account or
# tell that an address already has one, so a script cannot do either in bulk.
CHECKOUT_LIMIT_PER_IP = env_int("CHECKOUT_LIMIT_PER_IP", 20)
# Discount codes looked up (Apply, or a checkout carrying one) per client address per window.
COUPON_TRIES_PER_IP = env_int("COUPON_TRIES_PER_IP", 30)
COUPON_TRIES_WINDOW_SECONDS = env_int("COUPON_TRIES_WINDOW_SECONDS", 3600)
# One free trial per e-mail address, per device MAC and per client address (IPv6: per /64)
# within this many days.
TRIAL_WINDOW_DAYS = env_int("TRIAL_WINDOW_DAYS", 30)
# How many reverse proxies in front of `boxoffice web` append to X-Forwarded-For. 0: trust only
# REMOTE_ADDR (anything else lets a client pick its own address and dodge the limits).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# Earlier SECRET_KEYs, comma-separated, after a rotation: sessions and signed links made with
# them (order-status links in mails already sent) keep working until they are dropped from here.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
# The order-status page shows the line's login only this long after the line is ready; after
# that (or once a line is suspended, expired or refunded) the customer signs in to see it.
ORDER_STATUS_CREDENTIALS_HOURS = env_int("ORDER_STATUS_CREDENTIALS_HOURS", 24)
