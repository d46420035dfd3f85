"""Hypothesis fuzzing of the two doors bad input comes through: policy files (random YAML and
mutated valid policies → a PolicyFile or a ConfigError naming file and line, nothing else) and
venue payloads (mutated real and synthetic ccxt payloads → a snapshot or a PayloadError naming the
venue and the field, nothing else); and a service tick fed garbage audits an error and the next
tick works."""

from __future__ import annotations

import asyncio
import copy
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.core.domain import AccountSnapshot, OrderPlan, OrderResult, Side
from guard.core.venues.paper import RULES
from guard.core.yaml_model import ConfigError
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from guard.gateway.parsers import PayloadError, parse_snapshot
from guard.service import AccountRuntime, GuardService
from guard.service.files import load_policy_file
from guard.store import Store
from tests.builders import T0, D, spec
from tests.conftest import SHARED
from tests.gateway.parsers.test_parsers import BYBIT_BALANCE, bybit_position, dydx_raw, okx_position
from tests.reliability.test_fault_matrix import ACCOUNT, BTC, POLICY

ROOT = Path(__file__).resolve().parents[2]
POLICY_SEEDS = [
    ROOT / "policies" / "default.yaml",
    *sorted((ROOT / "policies/examples").glob("*.yaml")),
]

# ----- mutation strategies ----------------------------------------------------------------------
ODD_STRINGS = st.sampled_from(
    ["", " ", "0", "-1", "NaN", "-inf", "1e400", "1e-400", "abc", "0x10", "1,5", "12%", "-5%",
     "150%", "2m", "-3h", "1.0.0", "null", "true", "\u00e9\u6f22", "\x00"]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | ODD_STRINGS
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip

Path_ = tuple[str | int, ...]


def node_paths(value: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every path to a node below the root (dict keys, list indices), depth first."""
    found: list[Path_] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found.extend(node_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found.extend(node_paths(child, (*prefix, index)))
    return found


def _parent(doc: Any, path: Path_) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[Any], values: st.SearchStrategy[Any]) -> Any:
    """A seed document with 1-4 edits: a node replaced, deleted, duplicated or a key renamed."""
    doc = copy.deepcopy(draw(st.sampled_from(list(seeds))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = node_paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        last = path[-1]
        action = draw(st.sampled_from(["replace", "replace", "delete", "duplicate", "rename"]))
        if action == "replace":
            parent[last] = draw(values)
        elif action == "delete":
            del parent[last]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(int(last), copy.deepcopy(parent[last]))
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = parent.pop(last)
    return doc


# ----- policy files -----------------------------------------------------------------------------
def _policy_seeds() -> list[Any]:
    return [yaml.safe_load(path.read_text()) for path in POLICY_SEEDS]


def check_policy_text(text: str) -> None:
    """load_policy_file either loads or raises ConfigError naming the file (and a line)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_policy_file(path)
        except ConfigError as error:
            assert error.problems, "a ConfigError must say what is wrong"
            for problem in error.problems:
                assert problem.path == str(path) and problem.message
                assert str(problem).startswith(f"{path}")
                whole_file = problem.message == "the file is empty" or not text.strip()
                assert problem.line is not None or whole_file, str(problem)
                if problem.line is not None:
                    # YAML counts \r, \x85 and \u2028 as line breaks too: splitlines() does
                    assert 1 <= problem.line <= len(text.splitlines()) + 1, str(problem)


def test_policy_seeds_when_loaded_then_valid() -> None:
    assert len(POLICY_SEEDS) >= 2
    for path in POLICY_SEEDS:
        load_policy_file(path)


POLICY_VALUES = JSONISH | st.sampled_from(
    ["exit_ladder", "stale_data", "liquidation_distance", "margin_ratio", "reduce", "trigger"]
)


@settings(max_examples=150, deadline=None)
@given(doc=mutated(_policy_seeds(), POLICY_VALUES))
def test_mutated_policy_when_loaded_then_policy_or_config_error_with_file_line(doc: Any) -> None:
    check_policy_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


YAML_CHARS = st.sampled_from(list("abcrulesidkndvro:-#[]{},&*!|>'\"%@`\t\n 0123456789.%"))


@settings(max_examples=150, deadline=None)
@given(
    text=st.one_of(
        st.text(YAML_CHARS, max_size=120),
        st.text(max_size=60),
        JSONISH.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
    )
)
def test_random_yaml_when_loaded_as_policy_then_config_error_with_file_line(text: str) -> None:
    check_policy_text(text)


# ----- venue payloads ---------------------------------------------------------------------------
def synthetic_payloads() -> list[tuple[str, dict[str, Any]]]:
    okx_balance = {
        "info": {"data": [{"details": [{"ccy": "USDT", "eq": "5000", "isoEq": "1250", "mmr": "0"}]}]}
    }  # fmt: skip
    binance = {
        "symbol": "ETH/USDT:USDT",
        "marginMode": "isolated",
        "info": {
            "positionAmt": "-2", "entryPrice": "3000", "markPrice": "3100", "isolatedWallet": "600",
            "liquidationPrice": "0", "maintMargin": "31", "positionSide": "BOTH", "leverage": "10",
        },
    }  # fmt: skip
    paper = {
        "symbol": BTC, "contracts": 1, "side": "long", "entryPrice": 60000, "markPrice": 61000,
    }  # fmt: skip
    return [
        (
            "bybit",
            {
                "positions": [bybit_position()],
                "balance": BYBIT_BALANCE,
                "account_info": {"result": {"marginMode": "ISOLATED_MARGIN"}},
            },
        ),
        ("okx", {"positions": [okx_position()], "balance": okx_balance}),
        ("binance", {"positions": [binance], "balance": {"info": {"totalCrossWalletBalance": "1000"}}}),
        ("dydx", dydx_raw(0)),
        ("paper", {"positions": [paper], "balance": {"USDT": {"total": 6000}}}),
    ]  # fmt: skip


def real_payloads() -> list[tuple[str, dict[str, Any]]]:
    """Snapshots built from ../shared/data/ccxt-static when the folder is present (else none)."""
    folder = SHARED / "data" / "ccxt-static"
    found: list[tuple[str, dict[str, Any]]] = []
    for venue in ("hyperliquid", "binance"):
        path = folder / venue / "response.json"
        if not path.exists():
            continue
        methods = json.loads(path.read_text())["methods"]
        positions = list(methods.get("fetchPositions", [])) + list(methods.get("fetchPosition", []))
        balance = methods.get("fetchBalance", [])
        for entry in positions[:3]:
            parsed = entry["parsedResponse"]
            listed = parsed if isinstance(parsed, list) else [parsed]
            info = entry["httpResponse"] if venue == "hyperliquid" else None
            if venue == "binance":  # the account endpoint of the same recording as the positions
                # (fetchBalance was recorded on another, flat, account: contradictory, refused)
                info = next(
                    (e["httpResponse"] for e in positions if "account" in e["description"]),
                    balance[0]["parsedResponse"]["info"] if balance else None,
                )
            found.append((venue, {"positions": listed, "balance": {"info": info}}))
    return found


PAYLOADS = synthetic_payloads() + real_payloads()


def check_payload(venue: str, raw: Any) -> AccountSnapshot | None:
    """parse_snapshot either parses or raises PayloadError naming the venue and a field path."""
    try:
        return parse_snapshot(venue, ACCOUNT, T0, raw).snapshot
    except PayloadError as error:
        assert error.venue == venue and str(error).startswith(f"{venue} payload ")
        assert error.path, str(error)
        return None


def test_payload_seeds_when_parsed_then_each_gives_a_snapshot() -> None:
    assert len(PAYLOADS) >= 5
    for venue, raw in PAYLOADS:
        snapshot = parse_snapshot(venue, ACCOUNT, T0, raw).snapshot
        assert snapshot.positions, venue


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_payload_when_parsed_then_snapshot_or_payload_error_naming_venue_and_field(
    data: st.DataObject,
) -> None:
    venue, seed = data.draw(st.sampled_from(PAYLOADS), label="seed")
    raw = data.draw(mutated([seed], JSONISH), label="payload")
    check_payload(venue, raw)


# ----- the loop survives garbage ----------------------------------------------------------------
@dataclass
class GarbageOnce:
    """A gateway whose next snapshot is parsed from a fuzzed payload, then the paper venue."""

    inner: PaperVenue
    venue: str = "paper"
    garbage: list[tuple[str, Any]] = field(default_factory=list)

    async def fetch_snapshot(self, account: str) -> AccountSnapshot:
        if self.garbage:
            venue, raw = self.garbage.pop()
            return parse_snapshot(venue, account, self.inner.now, raw).snapshot
        return await self.inner.fetch_snapshot(account)

    async def create_order(self, plan: OrderPlan) -> OrderResult:
        return await self.inner.create_order(plan)

    async def fetch_order(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        return await self.inner.fetch_order(account, symbol, client_order_id)

    async def fetch_open_orders(self, account: str) -> list[OrderResult]:
        return await self.inner.fetch_open_orders(account)

    async def cancel_order(self, account: str, symbol: str, client_order_id: str) -> OrderResult:
        return await self.inner.cancel_order(account, symbol, client_order_id)

    async def close(self) -> None:
        await self.inner.close()


def test_tick_fed_garbage_when_next_tick_runs_then_error_audited_and_loop_survives(
    tmp_path: Path,
) -> None:
    path = PricePath({BTC: tuple((T0 + timedelta(minutes=m), D(70000)) for m in range(0, 400))})
    venue = PaperVenue({BTC: spec(BTC)}, path, slippage=SlippageModel(D(0), D(0)))
    venue.open_account(ACCOUNT, D(60000))
    venue.seed_position(ACCOUNT, BTC, Side.LONG, D(1), D(60000), D(2))  # far from liquidation
    gateway = GarbageOnce(venue)
    store = Store(f"sqlite:///{tmp_path / 'guard.db'}")
    store.create_schema()
    service = GuardService(
        store=store,
        accounts={ACCOUNT: AccountRuntime(ACCOUNT, RULES, gateway, POLICY)},  # type: ignore[arg-type]
        clock=lambda: venue.now,
    )
    outcomes = {"payload_error": 0, "parsed": 0}

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        venue_name, seed = data.draw(st.sampled_from(PAYLOADS), label="seed")
        raw = data.draw(mutated([seed], JSONISH), label="payload")
        gateway.garbage.append((venue_name, raw))
        errors_before = store.count_events("error", ACCOUNT)
        bad = asyncio.run(service.tick(ACCOUNT))  # never raises
        if bad.error is not None and "PayloadError" in bad.error:
            outcomes["payload_error"] += 1
            assert store.count_events("error", ACCOUNT) == errors_before + 1
            (event,) = store.tail(1, ACCOUNT, "error")
            assert f"{venue_name} payload" in event.message
        else:
            outcomes["parsed"] += 1
        venue.advance_to(venue.now + timedelta(seconds=30))
        good = asyncio.run(service.tick(ACCOUNT))
        assert good.error is None and good.decision is not None, good.error
        venue.advance_to(venue.now + timedelta(seconds=30))

    fuzz()
    try:
        assert outcomes["payload_error"] >= 1  # the fuzzer did reach the error path
        assert store.verify_chain()[0]
    finally:
        store.dispose()
