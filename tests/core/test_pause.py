"""The pause file's pure parse/cover decision: what a pause covers, expiry, fail-safe parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from guard.core.pause import Pause, parse_pause_file, render_pause_file, without

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_pauses_when_rendered_and_parsed_then_same_values() -> None:
    pauses = (
        Pause("maintenance", "ops", T0),
        Pause("hedge", "ana", T0, T0 + timedelta(minutes=30), "main", "BTC/USDT:USDT"),
    )
    parsed = parse_pause_file(render_pause_file(pauses), T0)
    assert parsed.problem is None and parsed.pauses == pauses


def test_pause_scopes_when_asked_then_cover_only_their_account_and_market() -> None:
    market = Pause("m", "ops", T0, None, "main", "BTC/USDT:USDT")
    account = Pause("a", "ops", T0, None, "main")
    everything = Pause("g", "ops", T0)
    assert market.covers("main", "BTC/USDT:USDT") and not market.covers("main", "ETH/USDT:USDT")
    assert not market.covers("other", "BTC/USDT:USDT")
    assert account.covers("main", "ETH/USDT:USDT") and not account.covers("other", "X")
    assert everything.covers("anyone", "anything")


def test_pause_with_end_when_time_passes_then_inactive_from_its_end() -> None:
    pause = Pause("r", "ops", T0, T0 + timedelta(minutes=30))
    file = parse_pause_file(render_pause_file((pause,)), T0)
    assert file.covering("main", "X", T0 + timedelta(minutes=29)) == (pause,)
    assert file.covering("main", "X", T0 + timedelta(minutes=30)) == ()


def test_malformed_file_when_parsed_then_one_pause_of_everything_naming_the_problem() -> None:
    for text, problem in [
        ("{not json", "not JSON"),
        ('{"pauses": []}', '"format": 1'),
        ('{"format": 1, "pauses": [{"reason": "r"}]}', "pauses[0].actor"),
        ('{"format": 1, "pauses": [{"reason": "r", "actor": "a", "set_at": "2026-12-01"}]}',
         "no UTC offset"),
        ('{"format": 1, "pauses": [{"reason": "r", "actor": "a", "set_at": "2026-12-01T00:00Z",'
         ' "market": "BTC"}]}', "needs its account"),
        ('{"format": 1, "pauses": [{"reason": "r", "actor": "a", "set_at": "2026-12-01T00:00Z",'
         ' "scope": "all"}]}', "unknown field"),
    ]:  # fmt: skip
        parsed = parse_pause_file(text, T0)
        assert parsed.problem is not None and problem in parsed.problem, (text, parsed.problem)
        (pause,) = parsed.covering("any", "market", T0 + timedelta(days=365))
        assert "malformed" in pause.describe("/var/guard.pause.json")
        assert "/var/guard.pause.json" in pause.describe("/var/guard.pause.json")


def test_resume_when_scoped_then_removes_exactly_that_scope_and_drops_expired() -> None:
    everything = Pause("g", "ops", T0)
    account = Pause("a", "ops", T0, None, "main")
    expired = Pause("old", "ops", T0, T0 + timedelta(minutes=1), "other")
    kept, removed = without((everything, account, expired), "main", None, T0 + timedelta(hours=1))
    assert removed == (account,) and kept == (everything,)
    kept, removed = without((everything, account), None, None, T0)
    assert kept == () and removed == (everything, account)
