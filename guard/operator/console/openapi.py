"""The console API's OpenAPI 3.1 document (pure data): every route, its scope and its body."""

from __future__ import annotations

from typing import Any

# (method, path) -> (summary, scope, body fields: name -> description)
OPERATIONS: dict[tuple[str, str], tuple[str, str, dict[str, str]]] = {
    ("GET", "/api/status"): ("Every account: mode, last tick, equity, margin, locks", "read", {}),
    ("GET", "/api/positions"): (
        "Positions per account from the last snapshot, with liquidation distance and band",
        "read",
        {},
    ),
    ("GET", "/api/overview"): (
        "Accounts, positions, locks, pending intents and requests, latest decisions",
        "read",
        {},
    ),
    ("GET", "/api/locks"): ("Active locks (?all=1: every lock ever taken)", "read", {}),
    ("GET", "/api/audit"): (
        "Newest audit events (?limit, ?account, ?kind, ?all=1 for quiet evaluations)",
        "read",
        {},
    ),
    ("GET", "/api/audit/verify"): ("Verify every audit hash chain and anchor", "read", {}),
    ("POST", "/api/locks"): (
        "Set an override lock on an account (or one market of it)",
        "operate",
        {
            "account": "the account (required)",
            "market": "one market of the account",
            "reason": "why (required, audited)",
            "ttl": "expire after e.g. 30m",
        },
    ),
    ("DELETE", "/api/locks/{lock_id}"): ("Clear one lock (?reason=...)", "operate", {}),
    ("POST", "/api/unlock"): (
        "Clear the active locks of an account (or one of its markets)",
        "operate",
        {"account": "the account", "market": "one market", "reason": "why"},
    ),
    ("POST", "/api/pause"): (
        "Pause the guard everywhere (a global lock)",
        "operate",
        {"reason": "why (required)", "ttl": "expire after e.g. 30m"},
    ),
    ("POST", "/api/resume"): ("Clear the global pause", "operate", {"reason": "why"}),
    ("POST", "/api/flatten"): (
        "Reduce positions by hand, reduce-only through the egress gate. Without `confirm`: "
        "returns a single-use confirmation token (valid 2 minutes) and queues nothing; "
        "repeat the same request with `confirm` to queue it.",
        "operate",
        {
            "account": "the account (required)",
            "market": "only this market",
            "fraction": "part of each position, in (0, 1] (default 1)",
            "reason": "why (required)",
            "confirm": "the token of the first step",
        },
    ),
    ("POST", "/api/reload"): ("Re-read the config and policies (like SIGHUP)", "operate", {}),
}

ERRORS = {
    "401": "no, unknown or revoked token (audited)",
    "403": "the token lacks the scope (audited; nothing changed)",
    "400": "bad input (audited; nothing changed)",
    "404": "no such account or lock",
    "409": "the state does not allow it (already cleared, not paused, confirmation unknown)",
    "503": "needs the running service",
}


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), (summary, scope, fields) in OPERATIONS.items():
        operation: dict[str, Any] = {
            "summary": summary,
            "security": [{"bearer": [scope]}],
            "x-scope": scope,
            "responses": {"200": {"description": "the result as JSON"}}
            | {code: {"description": text} for code, text in ERRORS.items()},
        }
        if "{lock_id}" in path:
            operation["parameters"] = [
                {"name": "lock_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ]
        if fields:
            operation["requestBody"] = {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                name: {"type": "string", "description": text}
                                for name, text in fields.items()
                            },
                        }
                    }
                }
            }
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "guard operator console", "version": "1"},
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `guard token create --scope read|operate`",
                }
            }
        },
        "paths": paths
        | {
            "/health": {"get": {"summary": "ok or degraded (no token)", "security": []}},
            "/metrics": {"get": {"summary": "Prometheus metrics (token when configured)"}},
        },
    }
