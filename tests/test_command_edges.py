"""The commands as an operator meets them: a clear message and a non-zero exit for a day with no round, an
open round, a file that cannot be written or is not a statement, an unmigrated database; no traceback when
the output's reader goes away; help for every option; English messages; a simulation that can be re-run."""

import re
import subprocess
import sys
from datetime import date
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from clock_app.facade import ClockCenter
from clock_app.models import ClockOrder, LedgerEntry, Participation, PayoutError, Player, Round
from clock_app.services.settlement import round_settle

from .conftest import ROOT, local, manage, manage_env
from .factories import play_round

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
COMMANDS = [
    "clock_audit",
    "clock_init_red",
    "clock_push_red",
    "clock_statement",
    "clock_sweep_payments",
    "clock_verify",
    "clock_simulate",
]
CJK = re.compile(r"[\u4e00-\u9fff]")


def run(*args, at=("2026-11-28", "10:00:00")):
    out, err = StringIO(), StringIO()
    with time_machine.travel(local(*at), tick=False):
        call_command(*args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def settled_round():
    play_round(DAY, 6, 4)
    with time_machine.travel(local("2026-11-27", "08:05:00"), tick=False):
        round_settle(DAY)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_and_the_help_points_nowhere_missing(name):
    command = load_command_class("clock_app", name)
    parser = command.create_parser("manage.py", name)
    text = parser.format_help()
    assert "DESIGN" not in text and "default: required" not in text
    own = [a for a in parser._actions if a.dest not in {"help", "version", "verbosity", "settings", "pythonpath"}]
    own = [a for a in own if a.dest not in {"traceback", "no_color", "force_color", "skip_checks"}]
    assert own and all(a.help for a in own), [a.dest for a in own if not a.help]
    assert not CJK.search(command.help)


@pytest.mark.parametrize(
    "name", ["clock_push_red", "clock_init_red", "clock_audit", "clock_statement", "clock_sweep_payments"]
)
def test_a_day_with_no_round_is_an_error(name):
    settled_round()  # another day has a round: the mistyped one still has none
    with pytest.raises(CommandError, match=r"^no round on 2099-01-01$"):
        run(name, "--day", "2099-01-01")
    assert not Round.objects.filter(clock_day="2099-01-01").exists()


def test_without_a_day_a_day_nobody_played_is_not_an_error():
    assert "no round on 2026-11-27" in run("clock_init_red")  # yesterday of 2026-11-28: nothing to settle


def test_refusals_are_in_english_with_their_code_and_what_to_do():
    play_round(DAY, 3, 2)
    with pytest.raises(CommandError) as refused:
        run("clock_init_red", "--day", "2026-11-26", at=("2026-11-27", "07:00:00"))
    message = str(refused.value)
    assert "round_not_closed" in message and "2026-11-27 08:05 (Asia/Shanghai)" in message
    assert not CJK.search(message)


def test_statement_of_an_open_round_is_refused_with_its_commitment():
    play_round(DAY, 3, 2)
    the_round = Round.objects.get()
    with pytest.raises(CommandError, match="not settled yet") as refused:
        run("clock_statement", "--day", "2026-11-26", at=("2026-11-27", "07:00:00"))
    assert the_round.seed_hash in str(refused.value)


def test_statement_defaults_to_the_latest_settled_round_and_verifies(tmp_path):
    settled_round()
    target = tmp_path / "statement.jsonl"
    said = run("clock_statement", "-o", str(target))
    assert f"statement_hash {Round.objects.get().statement_hash}" in said
    assert "verified" in run("clock_verify", str(target))


def test_statement_to_a_path_that_cannot_be_written_is_an_error():
    settled_round()
    with pytest.raises(CommandError, match="cannot write /nonexistent/f: No such file or directory"):
        run("clock_statement", "--day", "2026-11-26", "-o", "/nonexistent/f")


def test_the_csv_is_not_given_the_json_files_hash(tmp_path):
    settled_round()
    said = run("clock_statement", "--day", "2026-11-26", "--format", "csv", "-o", str(tmp_path / "s.csv"))
    assert "CSV written to" in said and "verifiable (clock_verify) is the JSON-lines statement" in said


def test_verify_says_what_is_wrong_with_a_file_that_is_not_a_statement(tmp_path):
    play_round(DAY, 3, 2)
    api_view = tmp_path / "open.json"
    import json

    api_view.write_text(json.dumps(ClockCenter().round_statement(DAY)["data"]["statement"]) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"format": "clock_app.statement/2", "totals": {}}\n')
    for path, expected in [
        (api_view, "the JSON API's view of a round"),
        (empty, "the file is empty"),
        (garbage, "not a statement header"),
    ]:
        out = StringIO()
        with pytest.raises(CommandError, match="does NOT verify"):
            call_command("clock_verify", str(path), stdout=out)
        assert expected in out.getvalue() and "None" not in out.getvalue()
    with pytest.raises(CommandError, match="cannot read /nonexistent/f"):
        call_command("clock_verify", "/nonexistent/f", stdout=StringIO())


def test_python_m_clock_app_statement_has_help_and_no_tracebacks(tmp_path):
    def statement(*args):
        return subprocess.run(
            [sys.executable, "-m", "clock_app.statement", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
        )

    helped = statement("--help")
    assert helped.returncode == 0 and "usage: python -m clock_app.statement" in helped.stdout
    missing = statement(str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "bad.jsonl").write_bytes("not json \u00e9\n".encode())
    bad = statement(str(tmp_path / "bad.jsonl"))
    assert bad.returncode == 1 and "does NOT verify" in bad.stdout and "Traceback" not in bad.stderr


def test_simulation_ends_now_on_todays_round_and_refuses_to_replay_its_days():
    at = ("2026-11-28", "10:00:00")
    out = run("clock_simulate", "--users", "30", "--days", "3", at=at)
    assert "Simulating 3 round(s) from 2026-11-26" in out and "audit: ok (3 rounds)" in out
    rounds = {r.clock_day.isoformat(): r for r in Round.objects.all()}
    assert rounds["2026-11-27"].is_settled and not rounds["2026-11-28"].is_settled  # yesterday settled, today open
    assert re.search(r"2026-11-28\s+taking stakes", out)
    with time_machine.travel(local(*at), tick=False):  # what `make serve` then shows: a live game
        shown = ClockCenter().init()["data"]["summary"]
    assert shown["clock_day"] == "2026-11-28" and shown["user_num"] > 0 and shown["yest_money"] > 0
    # Every sign-up is accounted for in the progress lines (no "852/855 paid" left hanging).
    summaries = re.findall(r"of (\d+) signing up, (\d+) joined in time, (\d+) paid [^,\n]*(?:, (\d+) will join)?", out)
    assert len(summaries) == 3
    for total, joined, late, later in summaries:
        assert int(total) == int(joined) + int(late) + int(later or 0)
    # Nothing is stamped after the simulation's now, and no row was created after it was last updated.
    now = local(*at)
    for model in (Player, ClockOrder, Participation, LedgerEntry, PayoutError, Round):
        assert not model.objects.filter(create_time__gt=now).exists(), model
        assert not model.objects.filter(update_time__gt=now).exists(), model
    from django.db.models import F

    assert not Player.objects.filter(create_time__gt=F("update_time")).exists()
    with pytest.raises(CommandError, match="already has round"):
        run("clock_simulate", "--users", "30", "--days", "3", at=at)
    assert Round.objects.count() == 3


def test_simulation_refuses_the_future():
    with pytest.raises(CommandError, match="after today"):
        run("clock_simulate", "--users", "5", "--start", "2026-12-01")


def test_commands_on_a_database_without_the_apps_tables_say_to_migrate(tmp_path):
    done = manage(tmp_path / "empty.sqlite3", "clock_audit")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "has no clock_app tables: run `python manage.py migrate`" in done.stderr


def test_a_reader_that_goes_away_stops_the_statement_quietly(demo_database):
    """``clock_statement --format csv | head``: the reader closes the pipe before the command writes."""
    for fmt in ("csv", "json"):
        process = subprocess.Popen(
            [sys.executable, "manage.py", "clock_statement", "--format", fmt],
            cwd=ROOT,
            env=manage_env(demo_database),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        process.stdout.close()  # like `head` having read what it wanted
        _, err = process.communicate(timeout=120)
        assert "Traceback" not in err.decode() and "BrokenPipeError" not in err.decode(), err.decode()
        assert process.returncode == 1
