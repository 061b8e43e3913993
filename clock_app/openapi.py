"""The HTTP API's OpenAPI 3.1 document, built here so it sits next to what it describes and is served by the
app itself (``schema/``). ``docs/openapi.json`` is a copy for people; a test keeps the two equal, and
``tests/test_schema_fuzz.py`` has schemathesis check every endpoint against it (no 500, every answer as
documented, every refusal with a stable ``code``).

Every answer is the seed's envelope ``{"status", "message", "data", "code"?}``: business refusals are HTTP 200
with ``status: 0`` and a ``code``; protocol errors (401, 403, 404, 405, 400/413, 500, 503) carry the same
envelope. The channels' callbacks answer in the channel's own format.
"""

from __future__ import annotations

from typing import Any

from . import __version__

JSON = "application/json"

INT = {"type": "integer"}
FEN = {"type": "integer", "minimum": 0, "description": "fen (1/100 yuan)"}
TEXT = {"type": "string"}
FLAG = {"type": "integer", "enum": [0, 1]}


def _object(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or list(properties)}


SUMMARY = _object(
    {
        "is_remind": FLAG,
        "clock_status": {"type": "integer", "enum": [0, 1, 2]},
        "user_num": INT,
        "clock_user_num": INT,
        "clock_money": FEN,
        "clock_time": INT,
        "red_time": INT,
        "zero_time": INT,
        "is_start": FLAG,
        "is_alert": FLAG,
        "yest_money": FEN,
        "clock_day": {"type": "string", "format": "date"},
        "seed_hash": TEXT,
        "clock_end_time": INT,
        "red_open_time": INT,
        "clock_window": TEXT,
        "red_open": TEXT,
        "participate_money": FEN,
        "time_zone": TEXT,
        "local_time": TEXT,
    }
)
TALENT = _object(
    {"type": INT, "uid": {"type": ["integer", "string"]}, "icon": TEXT, "nickname": TEXT, "mobile": TEXT, "desc": TEXT}
)
PAGE_ITEMS = {"total_counts": INT, "items": {"type": "array", "items": {"type": "object"}}}
DATA = {
    "init": _object({"summary": SUMMARY}),
    "summary": _object({"summary": SUMMARY}),
    "prepay": _object(
        {
            "order_id": INT,
            "order_no": TEXT,
            "pay_amount": FEN,
            "clock_day": {"type": "string", "format": "date"},
            "payment": {
                "type": "object",
                "description": "what the channel's client call needs (wx.requestPayment, my.tradePay …)",
            },
        }
    ),
    "check": _object({"is_check_in": FLAG}),
    "clock": _object({"money": FEN}),
    "open_red": _object(
        {
            "assign": _object(
                {
                    "money": FEN,
                    "state": {"type": "string", "enum": ["paid", "confirm", "pending"]},
                    "confirm": _object({"mchId": TEXT, "appId": TEXT, "package": TEXT}),
                },
                required=["money", "state"],
            )
        }
    ),
    "remind": _object({"is_remind": FLAG}),
    "toast": _object({"is_setting": FLAG}),
    "information": _object({"info": _object({"spend_money": FEN, "income_money": FEN, "clock_day_num": INT})}),
    "money_log": _object(PAGE_ITEMS),
    "yesterday": _object(
        {
            "yesterday": _object(
                {
                    "clock_status": {"type": "integer", "enum": [0, 1, 2]},
                    "red_status": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
                    "clock_day": TEXT,
                    "pseudonym": TEXT,
                    "order_no": TEXT,
                }
            )
        }
    ),
    "talents": _object({"talent": _object({"persistent": TALENT, "lucky": TALENT, "early": TALENT})}),
    "records": _object({"records": _object(PAGE_ITEMS)}),
    "statement": _object(
        {"statement": {"type": "object", "required": ["clock_day", "settled", "seed_hash", "packets"]}}
    ),
}

# name, path, method, needs a user, summary, query parameters
OPERATIONS = [
    ("init", "init/", "get", False, "The home summary of a visitor (today's round)", []),
    ("summary", "summary/", "get", True, "The home summary of the player", []),
    ("prepay", "prepay/", "post", True, "Order the stake for today's round; what the channel needs to pay it", []),
    ("check", "check/", "get", True, "Whether the player checked in for the round whose window is today", []),
    ("clock", "clock/", "post", True, "Check in (05:00–08:00)", []),
    ("open_red", "red/", "post", True, "Open the red packet: paid, a bill to confirm, or pending", []),
    ("remind", "remind/", "post", True, "Turn on the check-in reminder", []),
    ("toast", "toast/", "post", True, "Record that today's pop-up was shown", []),
    ("information", "information/", "get", True, "The player's totals", []),
    ("money_log", "money-log/", "get", True, "The player's money movements", ["page", "limit"]),
    ("yesterday", "yesterday/", "get", True, "The player's part in yesterday's round and its pseudonym", []),
    ("talents", "talents/", "get", False, "The three talent cards", []),
    ("records", "records/", "get", False, "The income board", ["page", "limit"]),
    ("statement", "rounds/{day}/statement/", "get", False, "A round's public statement, paged", ["page", "limit"]),
]
CALLBACKS = [
    ("notify", "notify/", "The channel's payment notification"),
    ("refund_notify", "refund-notify/", "The channel's refund notification"),
    ("transfer_notify", "transfer-notify/", "The channel's transfer notification (or the sandbox's confirmation)"),
]


def _envelope(data: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "status": {"type": "integer", "enum": [0, 1]},
            "message": TEXT,
            "data": {"type": "object"},
            "code": {"type": "string", "minLength": 1},
        },
        "required": ["status", "message", "data"],
    }
    if data is not None:  # success carries data; a refusal carries a code and empty data
        schema["oneOf"] = [
            {"properties": {"status": {"const": 1}, "data": data}},
            {"$ref": "#/components/schemas/Refusal"},
        ]
    return schema


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors() -> dict[str, Any]:
    refusal = {"$ref": "#/components/schemas/Refusal"}
    return {
        "4XX": _json(
            refusal,
            "not_authenticated, csrf_failed, not_found, method_not_allowed, malformed_json, day_invalid, "
            "body_too_large",
        ),
        "5XX": _json(refusal, "server_error, or unavailable (the database): the next request may work"),
    }


def _parameters(names: list[str], path: str) -> list[dict[str, Any]]:
    parameters = [
        {"name": name, "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}} for name in names
    ]
    if "{day}" in path:
        parameters.append(
            {"name": "day", "in": "path", "required": True, "schema": {"type": "string", "format": "date"}}
        )
    return parameters


def openapi_schema(prefix: str = "/clock/") -> dict[str, Any]:
    """The document, for the app mounted at ``prefix`` (``path("clock/", include("clock_app.urls"))``)."""
    paths: dict[str, Any] = {}
    for name, path, method, user, summary, query in OPERATIONS:
        operation: dict[str, Any] = {
            "operationId": name,
            "summary": summary,
            "parameters": _parameters(query, path),
            "responses": {"200": _json(_envelope(DATA[name]), "the envelope"), **_errors()},
        }
        if user:
            operation["security"] = [{"session": []}]
        if method == "post":
            operation["requestBody"] = {
                "required": False,
                "content": {
                    JSON: {
                        "schema": {
                            "type": "object",
                            "maxProperties": 0,
                            "description": "no body: the user is the session's, the payer's profile the "
                            "PROFILE_RESOLVER's",
                        }
                    }
                },
            }
        paths[prefix + path] = {method: operation}
    for name, path, summary in CALLBACKS:
        paths[prefix + path] = {
            "post": {
                "operationId": name,
                "summary": summary + ", authenticated by the channel's signature; answered in the channel's format",
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {"schema": {"type": "object"}},
                        "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                    },
                },
                "responses": {
                    "200": {
                        "description": "accepted (JSON, or Alipay's text `success`)",
                        "content": {JSON: {"schema": {"type": "object"}}, "text/plain": {"schema": TEXT}},
                    },
                    "204": {"description": "accepted (WeChat Pay v3)"},
                    "4XX": {
                        "description": 'refused: the channel sends it again (JSON `{"code": "FAIL"}`, '
                        "Alipay's `fail`, or an envelope)",
                        "content": {JSON: {"schema": {"type": "object"}}, "text/plain": {"schema": TEXT}},
                    },
                    "5XX": _json({"$ref": "#/components/schemas/Refusal"}, "unavailable: the channel sends it again"),
                },
            }
        }
    paths[prefix + "rounds/{day}/statement.jsonl"] = {
        "get": {
            "operationId": "statement_file",
            "summary": "A settled round's statement as the canonical JSON-lines file (what clock_verify reads)",
            "parameters": _parameters([], "{day}"),
            "responses": {
                "200": {"description": "the file", "content": {"application/x-ndjson": {"schema": TEXT}}},
                **_errors(),
            },
        }
    }
    paths[prefix + "schema/"] = {
        "get": {
            "operationId": "schema",
            "summary": "This document",
            "responses": {"200": _json({"type": "object", "required": ["openapi", "paths"]}, "OpenAPI 3.1")},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clock_app",
            "version": __version__,
            "description": "The HTTP API of clock_app, a pay-to-commit early-rise challenge. Money is integer fen.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Refusal": {
                    "type": "object",
                    "properties": {
                        "status": {"const": 0},
                        "message": TEXT,
                        "data": {"type": "object", "maxProperties": 0},
                        "code": {"type": "string", "pattern": "^[a-z_]+$"},
                    },
                    "required": ["status", "message", "data", "code"],
                }
            },
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "sessionid"}},
        },
    }
