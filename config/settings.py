"""The one settings module. Every value that differs between machines comes from the environment;
.env.example lists each variable. Without DATABASE_URL / REDIS_URL the platform runs embedded:
SQLite and Celery jobs executed in-process (for `make run`); tests and production set both."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / ".data")))

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example)")
    # Development only: a random key kept per checkout, so sessions survive restarts of `make run`.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(get_random_secret_key())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "surveys",
    "coding",
    "exports",
    "responses",
    "results",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.NoStoreMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

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
                "accounts.context_processors.roles",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
EMBEDDED = not DATABASE_URL
if EMBEDDED:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "db.sqlite3"},
    }
else:
    # Health checks: a kept connection is tested before a request reuses it, so the first request after a
    # database restart gets a new connection instead of an error (tests/faults/test_postgres_restart.py).
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Single sign-on through agencies' OpenID Connect providers (configured on a staff page as SocialApp rows).
INSTALLED_APPS += ["allauth.socialaccount", "allauth.socialaccount.providers.openid_connect"]
# The API trusts a staff member's session only after MFA (tokens are unaffected).
MIDDLEWARE += ["accounts.middleware.StaffSessionMFAMiddleware"]
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_FORMS = {"signup": "accounts.forms.OfficerSignupForm"}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Vetted Survey] "
# Lockout: after LOGIN_LOCKOUT_ATTEMPTS failures for one e-mail address within LOGIN_LOCKOUT_MINUTES,
# allauth refuses every login for that address (right password or not) until the window passes.
LOGIN_LOCKOUT_ATTEMPTS = env_int("LOGIN_LOCKOUT_ATTEMPTS", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
# Rate limits count per client address: behind a proxy, take it from X-Forwarded-For (the last N hops).
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if env_bool("BEHIND_TLS_PROXY") else 0)
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": f"10/m/ip,{LOGIN_LOCKOUT_ATTEMPTS}/{LOGIN_LOCKOUT_MINUTES}m/key",
    "signup": "5/m/ip,30/h/ip",
    "reset_password": "5/m/ip,3/h/key",
    "reset_password_from_key": "20/m/ip",
    # Ours (accounts/views.py): redeeming an invitation code.
    "redeem_invitation": "5/m/user,20/h/ip",
}
# Confirming it is you again (before e-mail or authenticator changes): password or authenticator only.
# allauth 65.22 added a code sent by e-mail as a third way; a mailbox is a weaker second factor than the
# authenticator staff must have, so it stays off (its two URLs answer 403; docs/authorization.md).
ACCOUNT_REAUTHENTICATION_METHODS = ("password", "mfa")
LOGIN_REDIRECT_URL = "home"
LOGIN_URL = "account_login"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Staff must pass MFA. Only the embedded demo (`make run`, DEBUG on) may switch this off for a first look.
STAFF_MFA_REQUIRED = env_bool("STAFF_MFA_REQUIRED", True)
if not STAFF_MFA_REQUIRED and not DEBUG:
    raise ImproperlyConfigured("STAFF_MFA_REQUIRED=0 is for the local demo only; it needs DEBUG=1")
MFA_TOTP_ISSUER = "Vetted Survey"
# Agencies' identity providers: no access tokens kept, no sign-in by matching e-mail to a local account
# (an IdP could claim any address), PKCE on.
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"OAUTH_PKCE_ENABLED": True}}
# Officers are e-mailed about an open edition once, and reminded once this many days before it closes.
REMINDER_DAYS_BEFORE_CLOSE = env_int("REMINDER_DAYS_BEFORE_CLOSE", 7)
# Invitation and reminder e-mails go out in batches of this size, one SMTP connection per batch.
MAIL_BATCH_SIZE = env_int("MAIL_BATCH_SIZE", 100)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "survey@localhost")

# --- Security -------------------------------------------------------------------------------------
# With DEBUG off the site is HTTPS only and `manage.py check --deploy` is clean with these defaults
# (tests/security/test_deploy_check.py); `make run` (DEBUG=1) serves plain http on 127.0.0.1.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers and container health probes speak plain HTTP to the app.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None
# One year, subdomains included; asking browsers to preload the host is the operator's decision.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Preloading is hard to undo and binds every subdomain of the registered domain, so it is an opt-in;
# while it is off, the deploy check's reminder about it (W021) is silenced, and only that one.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: forms carry the token, and the API docs page is given it.
CSRF_COOKIE_HTTPONLY = True
# Lax, not Strict: an agency's identity provider redirects back to us cross-site (OIDC callback).
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): only our own scripts, styles and fonts, no inline script or
# style, no plugins, never framed. data: images are the TOTP QR code (allauth) and the API docs' icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Additions for pages of libraries we cannot decorate (config/middleware.py): allauth's single sign-on
# form posts to itself and is redirected to the agency's identity provider, which form-action covers.
CONTENT_SECURITY_POLICY_PATH_UPDATES = {"/accounts/oidc/": {"form-action": ["https:"]}}
# Pages with answers, receipts, identities or exports are never kept by a browser or proxy cache.
NO_STORE_PATH_PREFIXES = ["/portal/", "/receipts/", "/staff/", "/api/", "/accounts/", "/profile/", "/invite/"]

# Uploads: questionnaires are small; refuse anything large before parsing it.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 5_000_000)
# ... and before storing it: the first handler skips a file once it passes IMPORT_MAX_BYTES.
FILE_UPLOAD_HANDLERS = [
    "config.uploads.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, IMPORT_MAX_BYTES)
FILE_UPLOAD_MAX_MEMORY_SIZE = IMPORT_MAX_BYTES

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Cache ----------------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------------
# Embedded mode runs jobs in-process; with REDIS_URL set a real worker takes them.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
# Task results are never stored: they could carry what a job touched (invariant 5).
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Redelivery after a crash (docs/operations.md): a job's message is acknowledged only once the job is
# done. If the worker's pool process dies, the worker puts the message back at once; if the whole worker
# dies, Redis hands the message out again JOB_REDELIVERY_SECONDS after it was taken, so this must exceed
# the longest job (a job still running then is not run twice: each job row is claimed, see exports and
# coding services).
JOB_REDELIVERY_SECONDS = env_int("JOB_REDELIVERY_SECONDS", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": JOB_REDELIVERY_SECONDS,
    # Look for such messages every 10 s (kombu's default is about every 100 s).
    "unacked_restore_interval": min(10, JOB_REDELIVERY_SECONDS),
    "unacked_restore_throttle": 1,
}
# How often the periodic sweeps queue again the jobs whose message was lost (Redis down or emptied) or
# whose worker died: pool releases of closed editions, exports, auto-coding runs, invitations.
JOB_SWEEP_SECONDS = env_int("JOB_SWEEP_SECONDS", 300)
CELERY_BEAT_SCHEDULE = {
    "close-due-editions": {"task": "surveys.editions_close_due", "schedule": timedelta(minutes=1)},
    "purge-expired-api-tokens": {"task": "accounts.api_tokens_purge_expired", "schedule": timedelta(days=1)},
    # Once a day: one reminder to officers who have not answered an edition closing within
    # REMINDER_DAYS_BEFORE_CLOSE days (accounts/tasks.py).
    "remind-officers": {"task": "accounts.participations_remind_due", "schedule": timedelta(days=1)},
    "release-closed-pools": {
        "task": "responses.pool_release_sweep",
        "schedule": timedelta(seconds=JOB_SWEEP_SECONDS),
    },
    "release-midway": {"task": "responses.pool_release_midway", "schedule": timedelta(days=1)},
    "replenish-pool-keys": {"task": "responses.pool_keys_replenish", "schedule": timedelta(minutes=10)},
    "exports-expire": {"task": "exports.exports_expire", "schedule": timedelta(hours=1)},
    "exports-requeue-stale": {
        "task": "exports.exports_requeue_stale",
        "schedule": timedelta(seconds=JOB_SWEEP_SECONDS),
    },
    "coding-requeue-stale": {
        "task": "coding.runs_requeue_stale",
        "schedule": timedelta(seconds=JOB_SWEEP_SECONDS),
    },
    "invite-to-open-editions": {
        "task": "accounts.participations_invite_open",
        "schedule": timedelta(seconds=JOB_SWEEP_SECONDS),
    },
}
# Test-only (tests/faults): a directory of armed pause points (config/faults.py). Never set in production.
FAULT_PAUSE_DIR = env_str("FAULT_PAUSE_DIR")

# --- Results --------------------------------------------------------------------------------------
# Tables and charts hide any cell or denominator under this many respondents (DESIGN, disclosure control).
RESULTS_MIN_CELL = env_int("RESULTS_MIN_CELL", 10)
# Computed results (aggregates only) are cached this long per edition, release and coding state; 0 = off.
RESULTS_CACHE_SECONDS = env_int("RESULTS_CACHE_SECONDS", 3600)
# After a coding write, the results are computed again (warmed) at most once per this many seconds, at
# the end of the window (results/jobs.py); a release warms them at once.
RESULTS_WARM_DEBOUNCE_SECONDS = env_int("RESULTS_WARM_DEBOUNCE_SECONDS", 30)
# Beat renews the current entries of every published edition well before they would expire and computes
# any that are missing (results.keep_warm), so a first view long after a release is served from the cache.
if RESULTS_CACHE_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["results-keep-warm"] = {
        "task": "results.keep_warm",
        "schedule": timedelta(seconds=max(60, RESULTS_CACHE_SECONDS // 3)),
    }

# --- Exports ------------------------------------------------------------------------------------
# Built files live here, outside STATIC_ROOT and MEDIA: they are served only through short-lived signed
# links to analysts and administrators (exports/views.py), and deleted EXPORT_TTL_DAYS after they are built.
EXPORT_DIR = Path(env_str("EXPORT_DIR", str(DATA_DIR / "exports")))
EXPORT_TTL_DAYS = env_int("EXPORT_TTL_DAYS", 7)
# Seconds a download link stays valid once a page or the API has handed it out.
EXPORT_LINK_MAX_AGE = env_int("EXPORT_LINK_MAX_AGE", 300)
# Default k for k-anonymity of quasi-identifiers in exports; requests may raise it, never go below 3.
EXPORT_DEFAULT_K = env_int("EXPORT_DEFAULT_K", 5)
# A running job whose worker has not reported for this long is considered dead and run again.
EXPORT_STALE_SECONDS = env_int("EXPORT_STALE_SECONDS", 600)

# --- Coding ---------------------------------------------------------------------------------------
# A running auto-coding run whose worker has not reported for this long is considered dead and run again.
CODING_STALE_SECONDS = env_int("CODING_STALE_SECONDS", 600)
# Model files derived from the packaged ones (the int8 MiniLM graph, coding/classifiers/minilm_int8.py):
# built here at first use and checked by sha256 on every load. Writable by the worker.
CODING_MODEL_DIR = Path(env_str("CODING_MODEL_DIR", str(DATA_DIR / "models")))

# --- Staging pool (anonymous side) -----------------------------------------------------------------
# Private staging keys: only the worker mounts this directory (docs/operations.md, docs/anonymity.md).
POOL_KEY_DIR = Path(env_str("POOL_KEY_DIR", str(DATA_DIR / "pool-keys")))
POOL_SPARE_KEYS = env_int("POOL_SPARE_KEYS", 3)
# Mid-way releases (daily) only when at least this many submissions wait; 0 turns them off.
POOL_MIDWAY_MINIMUM = env_int("POOL_MIDWAY_MINIMUM", 50)
# Blind-signed ballots (level 2): RSA modulus size of each edition's ballot key (RFC 9474; >= 2048).
BALLOT_KEY_BITS = env_int("BALLOT_KEY_BITS", 3072)

# --- API ------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.UnknownFormatRefused",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_TTL": timedelta(days=env_int("API_TOKEN_TTL_DAYS", 90)),
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vetted Survey API",
    "DESCRIPTION": "Annual surveys of vetted professionals who must stay anonymous.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Logging --------------------------------------------------------------------------------------
# Request logging is off on purpose: an access log next to the submission path would be a timing
# side channel (docs/operations.md).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"handlers": [], "propagate": False}},
}
