"""OKX v5 market, account and trade endpoints of the venue lab (instruments, funding, books,
position tiers; positions, balance, config; place, query, cancel, pending orders) with OKX's
order rules, each citing its source. Amounts on the wire are contracts of ctVal base units. Not
pure (the shared book). Sources: venues.md §6 ([OKX]; sCodes as in ccxt's okx table)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import INFINITY, MarginMode, MarketSpec, Side
from guard.lab.venue_lab.book import LabAccount
from guard.lab.venue_lab.server import Call, Rejected
from guard.lab.venue_lab.views import account_view, fmt

VENUE = "okx"
CL_ORD_ID = r"[A-Za-z0-9]{1,32}"  # clOrdId: 1–32 case-sensitive alphanumerics (venues.md §6.4)
CT_VAL = {"BTC": Decimal("0.01"), "ETH": Decimal("0.1"), "SOL": Decimal(1)}
MAX_MKT_USD = Decimal(1_000_000)


def ct_val(spec: MarketSpec) -> Decimal:
    return CT_VAL.get(spec.base, Decimal(1))


def lot(spec: MarketSpec) -> Decimal:
    return (spec.amount_step / ct_val(spec)).normalize()


def _specs(call: Call) -> dict[str, MarketSpec]:
    return {f"{spec.base}-USDT-SWAP": spec for spec in call.book.paper.markets.values()}


def _inst(spec: MarketSpec) -> str:
    return f"{spec.base}-USDT-SWAP"


def _mark(call: Call, symbol: str) -> Decimal:
    return call.book.paper.path.price(
        symbol, call.book.paper.now - timedelta(milliseconds=call.stale_ms)
    )


def _tick(value: Decimal, tick: Decimal) -> Decimal:
    return (value / tick).to_integral_value() * tick


def _spec(call: Call, inst: Any) -> MarketSpec:
    spec = _specs(call).get(str(inst))
    if spec is None:
        raise Rejected(
            200,
            {"code": "51001", "msg": "Instrument ID does not exist", "data": []},
            "symbol",
            f"unknown {inst!r}",
        )
    return spec


# ----- public -----------------------------------------------------------------------------------


def instruments(call: Call) -> list[Any]:
    rows = []
    for inst, spec in sorted(_specs(call).items()):
        lever = spec.tiers[0].max_leverage if spec.tiers else Decimal(100)
        rows.append(
            {
                "instType": "SWAP",
                "instId": inst,
                "uly": f"{spec.base}-USDT",
                "instFamily": f"{spec.base}-USDT",
                "baseCcy": "",
                "quoteCcy": "",
                "settleCcy": "USDT",
                "ctVal": fmt(ct_val(spec)),
                "ctMult": "1",
                "ctValCcy": spec.base,
                "ctType": "linear",
                "optType": "",
                "stk": "",
                "listTime": "1573557408000",
                "expTime": "",
                "lever": fmt(lever),
                "tickSz": fmt(spec.price_tick),
                "lotSz": fmt(lot(spec)),
                "minSz": fmt(lot(spec)),
                "maxLmtSz": "100000000",
                "maxMktSz": "10000",
                "maxLmtAmt": "20000000",
                "maxMktAmt": fmt(MAX_MKT_USD),
                "state": "live",
                "alias": "",
                "category": "1",
            }
        )
    return rows


def funding_rate(call: Call) -> list[Any]:
    spec = _spec(call, call.query.get("instId"))
    rate, next_time = call.book.paper._funding_now(spec.symbol)
    moment = int(next_time.timestamp() * 1000) if next_time else call.now_ms
    interval = int(spec.funding_interval.total_seconds() * 1000)
    return [
        {
            "instType": "SWAP",
            "instId": _inst(spec),
            "fundingRate": fmt(rate or Decimal(0)),
            "nextFundingRate": "",
            "fundingTime": str(moment),
            "nextFundingTime": str(moment + interval),
            "minFundingRate": "-0.0075",
            "maxFundingRate": "0.0075",
            "method": "current_period",
            "settState": "settled",
            "settFundingRate": fmt(rate or Decimal(0)),
            "premium": "0",
            "interestRate": "0",
            "sign": "",
            "ts": str(call.now_ms),
        }
    ]


def mark_prices(call: Call) -> list[Any]:
    return [
        {
            "instType": "SWAP",
            "instId": inst,
            "markPx": fmt(_mark(call, s.symbol)),
            "ts": str(call.now_ms),
        }
        for inst, s in sorted(_specs(call).items())
    ]


def books(call: Call) -> list[Any]:
    spec = _spec(call, call.query.get("instId"))
    mark = _mark(call, spec.symbol)
    half = call.book.paper.slippage.half_spread
    bids, asks = [], []
    for level in range(int(call.query.get("sz") or 5)):
        offset = half * (1 + level)
        size = fmt(lot(spec) * 1000 * (level + 1))
        bids.append([fmt(_tick(mark * (1 - offset), spec.price_tick)), size, "0", "1"])
        asks.append([fmt(_tick(mark * (1 + offset), spec.price_tick)), size, "0", "1"])
    return [{"asks": asks, "bids": bids, "ts": str(call.now_ms)}]


def position_tiers(call: Call) -> list[Any]:
    """Tiers in contracts; the paper's notional bounds converted at the current mark."""
    rows = []
    family = call.query.get("instFamily") or call.query.get("uly")
    for _inst_id, spec in sorted(_specs(call).items()):
        if family not in (None, f"{spec.base}-USDT"):
            continue
        unit = ct_val(spec) * _mark(call, spec.symbol)
        for index, tier in enumerate(spec.tiers, start=1):
            cap = tier.notional_cap if tier.notional_cap != INFINITY else Decimal(10) ** 10
            rows.append(
                {
                    "uly": f"{spec.base}-USDT",
                    "instFamily": f"{spec.base}-USDT",
                    "instId": "",
                    "tier": str(index),
                    "minSz": fmt((tier.notional_floor / unit).quantize(Decimal(1))),
                    "maxSz": fmt((cap / unit).quantize(Decimal(1))),
                    "mmr": fmt(tier.maintenance_rate),
                    "imr": fmt(1 / (tier.max_leverage or Decimal(1))),
                    "maxLever": fmt(tier.max_leverage or Decimal(1)),
                    "optMgnFactor": "0",
                    "quoteMaxLoan": "",
                    "baseMaxLoan": "",
                }
            )
    return rows


# ----- account ----------------------------------------------------------------------------------


INST_TYPES = ("MARGIN", "SWAP", "FUTURES", "OPTION")  # [OKX] GET /api/v5/account/positions


def positions(call: Call, account: LabAccount, params: dict[str, Any]) -> Any:
    """`GET /api/v5/account/positions` [OKX]: `instType` (optional) MARGIN | SWAP | FUTURES |
    OPTION filters the rows; every lab instrument is a USDT-margined SWAP."""
    kind = params.get("instType")
    if kind not in (None, "", *INST_TYPES):
        raise Rejected(
            200,
            {"code": "51000", "msg": "Parameter instType error", "data": []},
            "inst_type",
            f"instType {kind!r}",
        )
    if kind not in (None, "", "SWAP"):
        return {"code": "0", "msg": "", "data": []}
    view = account_view(call.book, account.paper)
    rows = []
    for p in view.positions:
        spec = p.spec
        contracts = p.quantity / ct_val(spec)
        isolated = p.margin_mode is MarginMode.ISOLATED
        signed = contracts if p.side is Side.LONG else -contracts
        if call.contradictory:
            signed = -signed
        rows.append(
            {
                "instType": "SWAP",
                "instId": _inst(spec),
                "mgnMode": "isolated" if isolated else "cross",
                "posSide": p.side.value if account.hedge_mode else "net",
                "pos": fmt(contracts if account.hedge_mode else signed),
                "ccy": "USDT",
                "posCcy": "",
                "avgPx": fmt(p.entry_price),
                "markPx": fmt(p.mark),
                "upl": fmt(p.upnl, 8),
                "uplRatio": "0",
                "lever": fmt(p.leverage),
                "liqPx": "",
                "imr": "" if isolated else fmt(p.initial_margin, 8),
                "margin": fmt(p.isolated_margin, 8) if isolated else "",
                "mgnRatio": "",
                "mmr": fmt(p.maintenance, 8),
                "notionalUsd": fmt(p.notional, 8),
                "adl": "1",
                "last": fmt(p.mark),
                "cTime": "1722816000000",
                "uTime": str(call.now_ms),
                "pTime": str(call.now_ms),
            }
        )
    return {"code": "0", "msg": "", "data": rows}


def balance(call: Call, account: LabAccount, params: dict[str, Any]) -> Any:
    view = account_view(call.book, account.paper)
    iso_eq = view.isolated_equity
    detail = {
        "ccy": "USDT",
        "eq": fmt(view.equity, 8),
        "cashBal": fmt(view.wallet, 8),
        "isoEq": fmt(iso_eq, 8),
        "availEq": fmt(view.available, 8),
        "availBal": fmt(view.available, 8),
        "frozenBal": "0",
        "ordFrozen": "0",
        "upl": fmt(sum((p.upnl for p in view.positions), Decimal(0)), 8),
        "mmr": fmt(view.maintenance, 8),
        "imr": fmt(view.initial_margin, 8),
        "uTime": str(call.now_ms),
        "eqUsd": fmt(view.equity, 8),
        "liab": "",
        "crossLiab": "",
    }
    return {
        "code": "0",
        "msg": "",
        "data": [
            {
                "totalEq": fmt(view.equity, 8),
                "details": [detail],
                "uTime": str(call.now_ms),
                "mmr": "",
                "imr": "",
            }
        ],
    }


def config(call: Call, account: LabAccount, params: dict[str, Any]) -> Any:
    return {
        "code": "0",
        "msg": "",
        "data": [
            {
                # a numeric account id, never the API key (a key must not echo in answers)
                "uid": str(int(hashlib.sha256(account.key.encode()).hexdigest()[:12], 16)),
                # 1 simple, 2 single-currency margin, 3 multi-currency margin, 4 portfolio
                # margin [OKX account/config; venues.md §10]; the lab's default is 2
                "acctLv": account.mode or "2",
                "posMode": "long_short_mode" if account.hedge_mode else "net_mode",
                "autoLoan": False,
                "greeksType": "PA",
                "level": "Lv1",
                "ctIsoMode": "automatic",
                "mgnIsoMode": "automatic",
                "label": "lab",
            }
        ],
    }
