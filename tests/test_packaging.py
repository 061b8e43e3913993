"""A Django developer installs the app from a wheel, not from a checkout: ``python -m build`` makes a wheel and an
sdist; the wheel installs into a fresh virtualenv (no system site-packages, so a missing dependency fails) and a
new ``django-admin startproject`` with ``clock_app`` passes ``check`` and ``migrate`` and finds the app's URLs,
templates and commands. The sdist builds the same wheel.

Slow (a build and a virtualenv, about 40 s once the dependencies' wheels are cached in pytest's cache dir; the
first run builds them from the package index): it runs in CI (``CLOCK_CI=1``) or with ``CLOCK_PACKAGING=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from clock_app import __version__

from .conftest import ROOT, require

SETTINGS_ADDITION = """
INSTALLED_APPS += ["clock_app"]
CLOCK = {"PROFILE_RESOLVER": "mysite.profiles.profile"}
"""
URLS_ADDITION = """
from django.urls import include
urlpatterns += [path("clock/", include("clock_app.urls"))]
"""
CHECK_SCRIPT = """
from django.template.loader import get_template
from django.test import Client
get_template("admin/clock_app/change_list.html")
answer = Client(HTTP_HOST="localhost").get("/clock/no-such-endpoint/")
assert answer.status_code == 404 and answer.json()["code"] == "not_found", answer.content
print("ok")
"""


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new shell: none of this test run's Django, database or virtualenv settings."""
    dropped = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV", "PYTHONPATH", "CLOCK_CI"}
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, **extra}


@pytest.fixture
def wheelhouse(request, tmp_path_factory) -> Path:
    """The dependencies' wheels, kept in pytest's cache dir between runs (the install itself is offline)."""
    require(
        os.environ.get("CLOCK_CI") == "1" or os.environ.get("CLOCK_PACKAGING") == "1",
        "slow (builds the package, makes a virtualenv): runs in CI (CLOCK_CI=1) or with CLOCK_PACKAGING=1",
    )
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    return Path(cache.mkdir("clock-wheelhouse")) if cache else tmp_path_factory.mktemp("wheelhouse")


def test_the_wheel_installs_into_a_fresh_virtualenv_and_a_new_project_migrates(tmp_path, wheelhouse, measurement):
    started = time.monotonic()
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ".", cwd=ROOT, env=clean_env())
    wheel = dist / f"clock_app-{__version__}-py3-none-any.whl"
    sdist = dist / f"clock_app-{__version__}.tar.gz"
    assert wheel.exists() and sdist.exists(), sorted(p.name for p in dist.iterdir())
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "clock_app/py.typed" in names and "clock_app/migrations/0001_initial.py" in names
    assert "clock_app/templates/admin/clock_app/change_form.html" in names
    assert not any(name.startswith(("tests/", "example_project/", "bench/")) for name in names)

    # The dependencies as wheels (built once; python-alipay-sdk, say, is an sdist on the index).
    pip = [sys.executable, "-m", "pip"]
    run(*pip, "wheel", "--quiet", "--find-links", wheelhouse, "--wheel-dir", wheelhouse, wheel, cwd=tmp_path)
    run(*pip, "download", "--quiet", "--dest", wheelhouse, "setuptools>=77", cwd=tmp_path)

    # The sdist has everything the wheel has: the wheel built from it lists the same files.
    rebuilt = tmp_path / "rebuilt"
    offline = ["--no-index", "--find-links", wheelhouse]
    run(*pip, "wheel", "--quiet", "--no-deps", *offline, "--wheel-dir", rebuilt, sdist, cwd=tmp_path)
    assert set(zipfile.ZipFile(rebuilt / wheel.name).namelist()) == names

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)  # no --system-site-packages: nothing borrowed
    python, env = venv / "bin" / "python", clean_env()
    run(python, "-m", "pip", "install", "--quiet", *offline, wheel, cwd=tmp_path, env=env)

    project = tmp_path / "project"
    project.mkdir()
    run(venv / "bin" / "django-admin", "startproject", "mysite", ".", cwd=project, env=env)
    with open(project / "mysite" / "settings.py", "a") as settings:
        settings.write(SETTINGS_ADDITION)
    with open(project / "mysite" / "urls.py", "a") as urls:
        urls.write(URLS_ADDITION)
    (project / "mysite" / "profiles.py").write_text("def profile(request):\n    return None\n")
    assert "System check identified no issues" in run(python, "manage.py", "check", cwd=project, env=env)
    assert "Applying clock_app.0001_initial... OK" in run(python, "manage.py", "migrate", cwd=project, env=env)
    assert "audit: ok (0 round(s))" in run(python, "manage.py", "clock_audit", cwd=project, env=env)
    assert run(python, "manage.py", "shell", "-c", CHECK_SCRIPT, cwd=project, env=env).strip().endswith("ok")
    elapsed = time.monotonic() - started
    measurement(f"packaging: build + fresh virtualenv + startproject/check/migrate in {elapsed:.0f} s")
