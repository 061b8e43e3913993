"""PostgreSQL restarted, or the app's connections killed (``pg_terminate_backend``), in the middle of the 05:00
rush: the request that meets the dead connection is answered 503 with an envelope, not a traceback; the next
requests work; the player who retries is checked in once (issue 13). The push job under the same fault is
the fault simulation's (tests/simulation: its jobs lose their session at a seeded statement)."""

import json
import queue
import threading
from datetime import date, timedelta

import time_machine
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, connections
from django.test import RequestFactory

from clock_app.audit import audit
from clock_app.models import ClockStatus, Participation

from ..conftest import local
from ..factories import join

DAY = date(2026, 11, 26)
NEXT = DAY + timedelta(days=1)
CSRF = "k" * 32
CLOCK_IN = "/api/clock/clock/"


class Worker:
    """One server worker (a gunicorn sync worker, say): a thread that keeps its database connection between
    requests (CONN_MAX_AGE), serving WSGI requests one at a time through the example project's application."""

    def __init__(self) -> None:
        from example_project.wsgi import application

        self.application = application
        self.jobs: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while (job := self.jobs.get()) is not None:
            environ, done = job
            answer = {}

            def start_response(status, headers, exc_info=None, answer=answer):
                answer["status"] = int(status.split()[0])

            answer["body"] = b"".join(self.application(environ, start_response))
            done.put(answer)
        connections.close_all()

    def post(self, path: str, uid: int) -> tuple[int, dict]:
        session = SessionStore()
        session["demo_uid"] = uid
        session.create()
        request = RequestFactory().post(
            path,
            content_type="application/json",
            HTTP_COOKIE=f"sessionid={session.session_key}; csrftoken={CSRF}",
            HTTP_X_CSRFTOKEN=CSRF,
        )
        done: queue.Queue = queue.Queue()
        self.jobs.put((request.environ, done))
        answer = done.get(timeout=30)
        return answer["status"], json.loads(answer["body"])

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(10)


def kill_the_apps_connections() -> int:
    """What a restart does to the server's sessions: every backend of this database but the test's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_a_database_restart_at_the_rush_costs_the_request_in_flight_a_503_and_nothing_more(postgres, settings):
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 60  # connections kept between requests, as in production
    for uid in range(1, 7):
        join(uid, DAY)
    worker = Worker()
    try:
        with time_machine.travel(local(NEXT, "06:00:00"), tick=False):
            assert worker.post(CLOCK_IN, 1)[1]["status"] == 1  # the worker now holds a connection
            assert kill_the_apps_connections() >= 1
            status, hit = worker.post(CLOCK_IN, 2)
            assert (status, hit["code"], hit["data"], hit["status"]) == (503, "unavailable", {}, 0)
            answers = [worker.post(CLOCK_IN, uid) for uid in (2, 3, 4, 5, 6)]  # 2 retries; the others come
    finally:
        worker.stop()
    assert [(status, body["status"]) for status, body in answers] == [(200, 1)] * 5
    assert Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN).count() == 6
    assert [r.ok for r in audit()] == [True]
