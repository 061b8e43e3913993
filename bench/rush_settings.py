"""Settings of the 05:00-rush benchmark (``bench/rush.py`` sets the environment and serves these with gunicorn).

The example project's settings, pointed at the bench's own PostgreSQL database and Redis db, production-like
(DEBUG off, persistent connections), quiet, with the bench-only user resolver and CSRF switch of
``bench/rush_views.py``. BENCH ONLY: never serve a real site with these settings.
"""

import os
from datetime import date

import environ

from example_project.settings import *  # noqa: F403
from example_project.settings import CLOCK, DATABASE_PREPARE_THRESHOLD, MIDDLEWARE

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/clock_rush"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"

DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.rush_urls"

DATABASES = {"default": environ.Env.db_url_config(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)}
# Persistent connections, as in the example project: opening one costs more than a clock-in.
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "60"))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = os.environ.get("CONN_HEALTH_CHECKS", "0") == "1"
# Prepared hot statements as in the example project (DATABASE_PREPARE_THRESHOLD= turns them off).
DATABASES["default"]["OPTIONS"] = {"prepare_threshold": DATABASE_PREPARE_THRESHOLD}

REDIS_URL = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}
# Nothing measured here enqueues a task; should something do so, run it in-process rather than into Redis.
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = True

# BENCH ONLY: the uid comes from an X-Bench-Uid header that anyone can set.
CLOCK = {**CLOCK, "USER_RESOLVER": "bench.rush_views.header_uid"}

# BENCH ONLY: CSRF checks off (wrk's POSTs carry no token); must come before CsrfViewMiddleware.
MIDDLEWARE = list(MIDDLEWARE)
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.csrf.CsrfViewMiddleware"), "bench.rush_views.NoCsrfMiddleware")

# The round the bare UPDATE baseline writes to (set by bench/rush.py).
RUSH_ROUND_DAY = date.fromisoformat(os.environ["RUSH_DAY"]) if os.environ.get("RUSH_DAY") else None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
    "loggers": {
        "django": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "clock_app": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
