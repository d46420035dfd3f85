"""Paper-venue accounts for the report tests: flat or moving marks, funding schedules, policies."""

from __future__ import annotations

from datetime import timedelta

from guard.core.domain import MarketSpec
from guard.core.policy.loading import policy_set
from guard.core.policy.schema import PolicySet
from guard.gateway.paper.book import SlippageModel
from guard.gateway.paper.path import PricePath
from guard.gateway.paper.venue import PaperVenue
from tests.builders import T0, D, spec

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def paper(
    knots: dict[str, list[tuple[float, str]]],
    funding: dict[str, list[tuple[float, str]]] | None = None,
    markets: dict[str, MarketSpec] | None = None,
) -> PaperVenue:
    """A paper venue without slippage whose marks have knots at T0 + hours."""
    path = PricePath({s: tuple((T0 + hours(h), D(p)) for h, p in ks) for s, ks in knots.items()})
    fund = {s: [(T0 + hours(h), D(r)) for h, r in rs] for s, rs in (funding or {}).items()}
    return PaperVenue(
        markets or {s: spec(s) for s in knots}, path, fund, SlippageModel(D(0), D(0)), start=T0
    )


def policies(text: str) -> PolicySet:
    """The policy of these rules (YAML list items); no rules: an empty set."""
    if not text.strip():
        return PolicySet(())
    return policy_set([("test-policy.yaml", "version: 1\nname: test\nrules:\n" + text)])
