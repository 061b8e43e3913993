"""Every command line in the README's code blocks, copied as written, runs without a traceback against a small
demo database (what a new user has after ``make demo``). Only the lines that build or serve something are
left out, each with its reason below."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, manage_env

# The command lines the README shows: manage.py, the package's own verifier, make.
COMMAND = re.compile(r"^(?:\.venv/bin/)?python (?:manage\.py |-m clock_app\.)|^make ")
SKIPPED = {
    "make demo": "builds .venv and demo.sqlite3; the fixture builds its demo database the same way (migrate, then "
    "clock_simulate), smaller",
    "make test": "is this test suite",
    "make serve": "serves until stopped",
    "make screenshot": "runs the browser test",
}
# Commands whose non-zero exit is a documented answer about the demo's state, not a failure of the command.
MAY_EXIT_1 = {
    "clock_audit --day 2099-01-01": "a day without a round",
    "clock_init_red": "before 08:05 yesterday's round cannot be settled yet (it says when)",
    "clock_push_red": "exits 1 while a winner of two days ago is owed (the sandbox refuses 10 % of transfers)",
}


def readme_commands() -> list[str]:
    """The command lines of the README's shell code blocks (``sh``, ``bash`` or unmarked), continuations joined
    and comments cut."""
    commands: list[str] = []
    language = None  # None outside a block
    pending = ""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            language = line[3:].strip() if language is None else None
            continue
        if language not in ("sh", "bash", ""):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        command = re.split(r"\s+#", (pending + line).strip(), maxsplit=1)[0].strip()
        pending = ""
        if COMMAND.match(command):
            commands.append(command)
    return commands


def test_the_readme_shows_commands():
    commands = readme_commands()
    assert len(commands) >= 12, commands  # the extraction finds them (a changed fence would silence this test)
    assert "make demo" in commands and ".venv/bin/python manage.py clock_audit" in commands
    assert "python manage.py check" in commands


@pytest.mark.parametrize("command", [c for c in readme_commands() if c not in SKIPPED])
def test_each_readme_command_runs_without_a_traceback(command, demo_database, tmp_path_factory):
    # Run from a directory of its own (files the commands write land there), manage.py and the package
    # from the checkout, the interpreter of this test run for `python` and `.venv/bin/python`.
    cwd = tmp_path_factory.mktemp("readme")
    if "clock_verify statement.jsonl" in command or "clock_app.statement statement.jsonl" in command:
        _write_statement(demo_database, cwd)
    shell = re.sub(r"^(?:\.venv/bin/)?python ", f"{sys.executable} ", command)
    shell = shell.replace(" manage.py ", f" {ROOT / 'manage.py'} ", 1)
    env = {**manage_env(demo_database), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", "-c", shell], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    said = done.stdout + done.stderr
    assert "Traceback" not in said and "Error:" not in said.replace("CommandError:", ""), said[-3000:]
    allowed = (0, 1) if any(command.endswith(name) for name in MAY_EXIT_1) else (0,)
    assert done.returncode in allowed, said[-3000:]
    if done.returncode == 1:
        assert said.strip(), "a non-zero exit says why"


def _write_statement(database: Path, cwd: Path) -> None:
    """The file the README's previous line wrote (each line runs in a directory of its own)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "clock_statement", "-o", "statement.jsonl"],
        cwd=cwd,
        env=manage_env(database),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_the_example_projects_default_database_is_the_demos():
    """So that no DATABASE_URL is needed for the README's commands after ``make demo``."""
    from django.conf import settings

    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^DEMO_DB := \$\(CURDIR\)/demo\.sqlite3$", makefile, re.M)
    settings_text = (ROOT / "example_project" / "settings.py").read_text()
    assert "default=f\"sqlite:///{BASE_DIR / 'demo.sqlite3'}\"" in settings_text
    assert settings.BASE_DIR == ROOT
