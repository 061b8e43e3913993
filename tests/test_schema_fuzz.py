"""schemathesis fuzzes every endpoint of the HTTP API against its own OpenAPI document (``schema/``), as a
visitor and as a logged-in player: no answer is a 5xx, every answer is the documented status, content type and
shape, and every refusal carries a stable ``code`` (issue 13)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import schemathesis
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .factories import play_round

CSRF = "c" * 32


def _served_schema():
    """The document as the app serves it, the example project's WSGI application answering in-process."""
    from example_project.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/clock/schema/", application)


schema = _served_schema()


def refusals_have_a_code(ctx, response, case) -> None:
    """Every JSON answer that refuses (``status: 0``) names why with a stable, machine-readable code."""
    if "application/json" not in " ".join(response.headers.get("content-type", [])):
        return
    try:
        body = json.loads(response.content or b"{}")
    except ValueError as exc:
        raise AssertionError(f"{case.method} {case.path}: a JSON answer that is not JSON") from exc
    if isinstance(body, dict) and body.get("status") == 0:
        assert isinstance(body.get("code"), str) and body["code"], f"{case.method} {case.path}: no code in {body}"


CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    refusals_have_a_code,
]


@pytest.fixture(autouse=True)
def _one_connection_for_the_test():
    """schemathesis calls the WSGI application directly, not through Django's test client, so Django would
    close the test's database connection at the end of every request (``close_old_connections``) — in the
    middle of the test's transaction. Do what the test client does: keep it open."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def player_session(db) -> str:
    play_round(timezone.localdate() - timedelta(days=3), 4, 3)
    session = SessionStore()
    session["demo_uid"] = 1
    session.create()
    return session.session_key


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_a_visitor_gets_a_documented_answer_from_every_endpoint(case):
    case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_player_gets_a_documented_answer_from_every_endpoint(case, player_session):
    case.call_and_validate(
        checks=CHECKS,
        cookies={"sessionid": player_session, "csrftoken": CSRF},
        headers={"X-CSRFToken": CSRF},
    )


def test_the_document_in_docs_is_the_one_the_app_serves(client):
    from pathlib import Path

    from clock_app.openapi import openapi_schema

    checked_in = json.loads((Path(__file__).resolve().parent.parent / "docs" / "openapi.json").read_text())
    assert checked_in == openapi_schema("/clock/"), "regenerate docs/openapi.json (see the README's HTTP API)"
    served = client.get("/api/clock/schema/").json()
    assert served == openapi_schema("/api/clock/") and served["openapi"] == "3.1.0"
