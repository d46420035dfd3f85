"""vcrpy configuration shared by the cassette recorder and the replay tests.

Requests match on method, host, port, path, the query without volatile signing fields, and, for
JSON-RPC style venues that multiplex one path (Hyperliquid /info, /exchange), the request type.
Recorded requests keep no headers at all (API keys and passphrases travel in headers).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import vcr

# signing fields change on every run; the dYdX tx is signed (its content is asserted by decoding)
VOLATILE = {"timestamp", "signature", "recvWindow", "nonce", "sign", "expires", "tx"}


def _query(uri: str) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in parse_qsl(urlsplit(uri).query) if k not in VOLATILE)


def _kind(body: Any) -> str | None:
    if not body:
        return None
    if isinstance(body, bytes):
        body = body.decode()
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    action = data.get("action")
    if isinstance(action, dict):
        return f"action:{action.get('type')}"
    kind = data.get("type")
    if not isinstance(kind, str):
        return None
    dex = data.get("dex")  # Hyperliquid: one clearinghouse per perp DEX
    return f"type:{kind}" + (f":dex:{dex}" if dex else "")


def match_query(r1: Any, r2: Any) -> None:
    assert _query(r1.uri) == _query(r2.uri), f"{_query(r1.uri)} != {_query(r2.uri)}"


def match_kind(r1: Any, r2: Any) -> None:
    assert _kind(r1.body) == _kind(r2.body)


def _scrub_request(request: Any) -> Any:
    request.headers = {}
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {"Content-Type": ["application/json; charset=utf-8"]}
    return response


def make_vcr(record_mode: str = "none") -> vcr.VCR:
    recorder = vcr.VCR(
        record_mode=record_mode,
        match_on=["method", "host", "port", "path", "signed_query", "request_kind"],
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )
    recorder.register_matcher("signed_query", match_query)
    recorder.register_matcher("request_kind", match_kind)
    return recorder
