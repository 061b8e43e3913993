"""Settings of the example project, read from the environment with django-environ.

Defaults run anywhere (SQLite file, in-process cache, eager Celery); production points the URLs at real
services: ``DATABASE_URL=postgres://…``, ``REDIS_URL=redis://…``, ``CELERY_BROKER_URL=amqp://…``.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env("SECRET_KEY", default="insecure-example-key-change-me-in-production-0123456789")
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "clock_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "example_project" / "templates"],
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

# The demo's database (`make demo` builds it) unless DATABASE_URL says otherwise: the README's commands work as typed.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'demo.sqlite3'}")}
# Keep connections open between requests: opening one costs more than a clock-in.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A health check is a round trip per request (measured in bench/rush.py); turn it on where the database restarts.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
# PostgreSQL keeps a plan of clock_app's two hottest statements (the check-in, the home summary) for the life of
# the connection when psycopg may prepare them (clock_app.prepared); 0: prepared on first use. Django leaves
# prepared statements off because a connection pooler in transaction mode loses them: behind PgBouncer before
# 1.21 (or without max_prepared_statements) set DATABASE_PREPARE_THRESHOLD to an empty value.
_prepare_threshold = env("DATABASE_PREPARE_THRESHOLD", default="0")
DATABASE_PREPARE_THRESHOLD = int(_prepare_threshold) if _prepare_threshold else None
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = DATABASE_PREPARE_THRESHOLD

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # A hanging Redis must cost a request a fraction of a second: clock_app treats a cache error
                # as a miss and serves from the database (DESIGN §6).
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.25),
                "SOCKET_TIMEOUT": env.float("REDIS_TIMEOUT", default=0.25),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TIMEZONE = "Asia/Shanghai"

# The server's clock is UTC; the game's calendar is CLOCK["TIME_ZONE"] (Asia/Shanghai by default).
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "example_project" / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/"


def _pem(variable: str) -> str:
    """A key given as a file path (never inline in the environment)."""
    path = env(variable, default="")
    return Path(path).read_text() if path else ""


# The signed sandbox by default; the real WeChat Pay v3 channel as soon as its merchant number is set, else
# Alipay as soon as its app id is set (one channel at a time: WeChat Pay wins if both are).
if env("WECHATPAY_MCHID", default=""):
    PAYMENT_CHANNEL = {
        "BACKEND": "clock_app.channels.wechatpay.WeChatPayChannel",
        "OPTIONS": {
            "MCHID": env("WECHATPAY_MCHID"),
            "APPID": env("WECHATPAY_APPID", default=""),
            "APIV3_KEY": env("WECHATPAY_APIV3_KEY", default=""),
            "PRIVATE_KEY": _pem("WECHATPAY_PRIVATE_KEY_FILE"),
            "CERT_SERIAL_NO": env("WECHATPAY_CERT_SERIAL_NO", default=""),
            "PUBLIC_KEY": _pem("WECHATPAY_PUBLIC_KEY_FILE"),
            "PUBLIC_KEY_ID": env("WECHATPAY_PUBLIC_KEY_ID", default=""),
            "NOTIFY_URL": env("WECHATPAY_NOTIFY_URL", default=""),
            "TRANSFER_SCENE_ID": env("WECHATPAY_TRANSFER_SCENE_ID", default="1000"),
        },
    }
elif env("ALIPAY_APP_ID", default=""):
    PAYMENT_CHANNEL = {
        "BACKEND": "clock_app.channels.alipay.AlipayChannel",
        "OPTIONS": {
            "APP_ID": env("ALIPAY_APP_ID"),
            "APP_PRIVATE_KEY": _pem("ALIPAY_APP_PRIVATE_KEY_FILE"),
            "ALIPAY_PUBLIC_KEY": _pem("ALIPAY_PUBLIC_KEY_FILE") or None,
            # Certificate mode (transfers need it): the three files from the open platform's console.
            "APP_CERT": _pem("ALIPAY_APP_CERT_FILE") or None,
            "ALIPAY_CERT": _pem("ALIPAY_CERT_FILE") or None,
            "ALIPAY_ROOT_CERT": _pem("ALIPAY_ROOT_CERT_FILE") or None,
            "SELLER_ID": env("ALIPAY_SELLER_ID", default="") or None,
            "NOTIFY_URL": env("ALIPAY_NOTIFY_URL", default=""),
            "GATEWAY": env("ALIPAY_GATEWAY", default="https://openapi.alipay.com/gateway.do"),
        },
    }
else:
    PAYMENT_CHANNEL = {
        "BACKEND": "clock_app.channels.sandbox.SandboxChannel",
        "OPTIONS": {
            "SECRET": env("CLOCK_SANDBOX_SECRET", default=None),
            # Answer packets like WeChat's transfer bills: the page asks the player to confirm.
            "CONFIRM": env.bool("CLOCK_SANDBOX_CONFIRM", default=False),
        },
    }

CLOCK = {
    "TIME_ZONE": env("CLOCK_TIME_ZONE", default="Asia/Shanghai"),
    # Red packets and refunds go out through the configured channel.
    "PAYOUT_HANDLER": env("CLOCK_PAYOUT_HANDLER", default="clock_app.channels.transfer"),
    "PAYMENT_CHANNEL": PAYMENT_CHANNEL,
    # The demo login picks a simulated player; a real project resolves its own users (default: request.user.pk).
    "USER_RESOLVER": "example_project.demo.session_uid",
    "PROFILE_RESOLVER": "example_project.demo.session_profile",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"clock_app": {"handlers": ["console"], "level": env("CLOCK_LOG_LEVEL", default="WARNING")}},
}
