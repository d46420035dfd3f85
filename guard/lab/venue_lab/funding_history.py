"""The venue lab's funding-history endpoints, each venue's wire format, backed by the paper engine's
own funding ledger (every settlement it booked) and funding series; not pure (the shared book).
Sign on the wire is each venue's: what the ACCOUNT received (negative when it paid), while the
ledger keeps what the position paid. Sources, per endpoint below:
  Binance GET /fapi/v1/income (incomeType FUNDING_FEE) and GET /fapi/v1/fundingRate
    (developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/
    Get-Income-History; .../market-data/rest-api/Get-Funding-Rate-History)
  Bybit GET /v5/account/transaction-log type SETTLEMENT
    (bybit-exchange.github.io/docs/v5/account/transaction-log)
  OKX GET /api/v5/account/bills[-archive] type 8, subType 173 expense / 174 income, and GET
    /api/v5/public/funding-rate-history (okx.com/docs-v5/en/#trading-account-rest-api-get-bills-
    details-last-3-months, as ccxt's okx.fetch_funding_history quotes it)
  dYdX indexer GET /v4/fundingPayments[/parentSubaccount] (v4-chain comlink
    funding-payments-controller.ts; payment = -size x oraclePrice x rate, roundtable
    update_funding_payments.sql)
  Hyperliquid POST /info {"type": "userFunding"} (as ccxt's hyperliquid.fetch_funding_history
    quotes it: delta.usdc received, delta.szi signed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from guard.core.domain import ZERO, MarginMode, Side
from guard.core.funding_ledger import FundingPayment
from guard.lab.venue_lab.book import LabAccount
from guard.lab.venue_lab.server import Call, Rejected
from guard.lab.venue_lab.views import fmt

DAY_7_MS = 7 * 24 * 3600 * 1000
BILL_BASE = 600_000_000_000_000_000  # OKX-like bill ids: BILL_BASE + ledger index


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _int(call: Call, params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError:
        raise Rejected(400, {"error": f"{name}: not an integer: {value!r}"}) from None


def _ledger(call: Call, account: LabAccount) -> Iterator[tuple[int, FundingPayment]]:
    """(ledger index, payment) of the account's settlements up to the lab's now, oldest first."""
    now = datetime.fromtimestamp(call.now_ms / 1000, tz=UTC)
    for index, payment in enumerate(call.book.paper.accounts[account.paper].funding_ledger):
        if payment.at <= now:
            yield index, payment


def _base(call: Call, symbol: str) -> str:
    return call.book.paper.markets[symbol].base


def _signed(payment: FundingPayment) -> Decimal:
    return payment.side.sign * (payment.quantity or ZERO)


# ----- Binance ------------------------------------------------------------------------------
def binance_income(call: Call, account: LabAccount, params: dict[str, str]) -> list[Any]:
    """GET /fapi/v1/income: FUNDING_FEE rows, oldest first, startTime/endTime inclusive."""
    kind = params.get("incomeType")
    if kind not in (None, "", "FUNDING_FEE"):
        return []
    start = _int(call, params, "startTime", 0) or 0
    end = _int(call, params, "endTime", call.now_ms) or call.now_ms
    limit = min(_int(call, params, "limit", 100) or 100, 1000)
    rows = []
    for index, p in _ledger(call, account):
        market = f"{_base(call, p.symbol)}USDT"
        if not start <= _ms(p.at) <= end or params.get("symbol", market) != market:
            continue
        rows.append(
            {
                "symbol": market,
                "incomeType": "FUNDING_FEE",
                "income": fmt(-p.amount),
                "asset": "USDT",
                "info": "FUNDING_FEE",
                "time": _ms(p.at),
                "tranId": 9_000_000_000 + index,
                "tradeId": "",
            }
        )
    return rows[:limit]


def binance_funding_rate(call: Call) -> list[Any]:
    """GET /fapi/v1/fundingRate (public): settled rates with the mark, oldest first."""
    params = call.query
    start = _int(call, params, "startTime", 0) or 0
    end = _int(call, params, "endTime", call.now_ms) or call.now_ms
    limit = min(_int(call, params, "limit", 100) or 100, 1000)
    rows: list[dict[str, Any]] = []
    for symbol, series in sorted(call.book.paper.funding.items()):
        market = f"{_base(call, symbol)}USDT"
        if params.get("symbol", market) != market:
            continue
        for moment, rate in series:
            if start <= _ms(moment) <= min(end, call.now_ms):
                rows.append(
                    {
                        "symbol": market,
                        "fundingRate": fmt(rate),
                        "fundingTime": _ms(moment),
                        "markPrice": fmt(call.book.paper.path.price(symbol, moment)),
                    }
                )
    rows.sort(key=lambda r: int(r["fundingTime"]))
    return rows[:limit]


# ----- Bybit --------------------------------------------------------------------------------
def bybit_transaction_log(
    call: Call, account: LabAccount, params: dict[str, str], specs: object = None
) -> Any:
    """GET /v5/account/transaction-log: SETTLEMENT rows newest first, 7-day window, cursor
    (`specs`: the Bybit module passes its markets to every handler; unused here)."""
    if params.get("type") not in (None, "", "SETTLEMENT"):
        return {"list": [], "nextPageCursor": ""}
    end = _int(call, params, "endTime", None)
    start = _int(call, params, "startTime", None)
    if start is None and end is None:
        end, start = call.now_ms, call.now_ms - 24 * 3600 * 1000
    elif start is None:
        start = (end or 0) - 24 * 3600 * 1000
    elif end is None:
        end = start + 24 * 3600 * 1000
    assert start is not None and end is not None
    if end - start > DAY_7_MS:
        raise Rejected(
            200,
            {"retCode": 10001, "retMsg": "endTime - startTime must be <= 7 days", "result": {}},
            "window",
        )
    limit = min(_int(call, params, "limit", 20) or 20, 50)
    offset = _int(call, params, "cursor", 0) or 0
    rows = []
    for index, p in _ledger(call, account):
        if not start <= _ms(p.at) <= end:
            continue
        rows.append(
            {
                "id": f"lab-settlement-{index}",
                "symbol": f"{_base(call, p.symbol)}USDT",
                "category": "linear",
                "side": "Buy" if p.side is Side.LONG else "Sell",
                "transactionTime": str(_ms(p.at)),
                "type": "SETTLEMENT",
                "transSubType": "",
                "qty": fmt(p.quantity),
                "size": fmt(_signed(p)),
                "currency": "USDT",
                "tradePrice": fmt(p.price),
                "funding": fmt(-p.amount),
                "fee": "0",
                "cashFlow": "0",
                "change": fmt(-p.amount),
                "cashBalance": "0",
                "feeRate": fmt(p.rate),
                "bonusChange": "",
                "tradeId": "",
                "orderId": "",
                "orderLinkId": "",
            }
        )
    rows.reverse()
    page = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    return {"list": page, "nextPageCursor": str(offset + limit) if more else ""}


# ----- OKX ----------------------------------------------------------------------------------
def okx_bills(call: Call, account: LabAccount, params: dict[str, str]) -> Any:
    """GET /api/v5/account/bills[-archive] type 8: newest first, `after` a bill id (older)."""
    from guard.lab.venue_lab.okx_trade import ct_val

    if params.get("type") not in (None, "", "8") or params.get("instType") not in (
        None,
        "",
        "SWAP",
    ):
        return {"code": "0", "msg": "", "data": []}
    begin = _int(call, params, "begin", 0) or 0
    end = _int(call, params, "end", call.now_ms) or call.now_ms
    after = _int(call, params, "after", None)
    limit = min(_int(call, params, "limit", 100) or 100, 100)
    rows = []
    paper = call.book.paper.accounts[account.paper]
    for index, p in _ledger(call, account):
        bill = BILL_BASE + index
        if not begin <= _ms(p.at) <= end or (after is not None and bill >= after):
            continue
        spec = call.book.paper.markets[p.symbol]
        held = paper.positions.get(p.key)
        mode = held.margin_mode if held is not None else MarginMode.CROSS
        rows.append(
            {
                "bal": "0",
                "balChg": fmt(-p.amount),
                "billId": str(bill),
                "ccy": "USDT",
                "execType": "",
                "fee": "0",
                "from": "",
                "instId": f"{spec.base}-USDT-SWAP",
                "instType": "SWAP",
                "mgnMode": mode.value,
                "notes": "",
                "ordId": "",
                "pnl": fmt(-p.amount),
                "posBal": "0",
                "posBalChg": "0",
                "subType": "173" if p.amount > ZERO else "174",
                "sz": fmt((p.quantity or ZERO) / ct_val(spec)),
                "to": "",
                "ts": str(_ms(p.at)),
                "type": "8",
            }
        )
    rows.reverse()
    return {"code": "0", "msg": "", "data": rows[:limit]}


def okx_funding_rate_history(call: Call) -> list[Any]:
    """GET /api/v5/public/funding-rate-history?instId=: newest first; `before` a funding time
    (only newer ones, the oldest `limit` of them), `after` (only older)."""
    inst = call.query.get("instId", "")
    wanted = [s for s in call.book.paper.funding if f"{_base(call, s)}-USDT-SWAP" == inst]
    if not wanted:
        raise Rejected(200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []})
    before = _int(call, call.query, "before", None)
    after = _int(call, call.query, "after", None)
    limit = min(_int(call, call.query, "limit", 100) or 100, 100)
    rows = []
    for moment, rate in call.book.paper.funding[wanted[0]]:
        ms = _ms(moment)
        if ms > call.now_ms or (before is not None and ms <= before):
            continue
        if after is not None and ms >= after:
            continue
        rows.append(
            {
                "instType": "SWAP",
                "instId": inst,
                "formulaType": "noRate",
                "fundingRate": fmt(rate),
                "realizedRate": fmt(rate),
                "fundingTime": str(ms),
                "method": "current_period",
            }
        )
    chosen = rows[:limit] if before is not None else rows[-limit:]
    return list(reversed(chosen))


# ----- dYdX ---------------------------------------------------------------------------------
def dydx_funding_payments(call: Call, account: LabAccount, children: dict[str, int]) -> Any:
    """GET /v4/fundingPayments (subaccountNumber) or /parentSubaccount (parentSubaccountNumber:
    the parent and its children n + 128k); `children`: symbol -> child subaccount number."""
    params = call.query
    parent = call.path.endswith("/parentSubaccount")
    number = _int(call, params, "parentSubaccountNumber" if parent else "subaccountNumber", 0)
    after = params.get("afterOrAt")
    since = None
    if after:
        try:
            since = datetime.fromisoformat(after.replace("Z", "+00:00"))
        except ValueError:
            raise Rejected(400, {"errors": [{"msg": f"afterOrAt: {after!r}"}]}) from None
    limit = _int(call, params, "limit", 1000) or 1000
    page = _int(call, params, "page", None)
    rows = []
    symbols = sorted(call.book.paper.markets)
    for _, p in _ledger(call, account):
        sub = children.get(p.symbol, 0)
        if (parent and sub % 128 != number) or (not parent and sub != number):
            continue
        if since is not None and p.at < since:
            continue
        rows.append(
            {
                "createdAt": p.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "createdAtHeight": str(
                    40_000_000 + int((p.at - call.book.paper.path.start).total_seconds())
                ),
                "perpetualId": str(symbols.index(p.symbol)),
                "ticker": f"{_base(call, p.symbol)}-USD",
                "oraclePrice": fmt(p.price),
                "size": fmt(_signed(p)),
                "side": "LONG" if p.side is Side.LONG else "SHORT",
                "rate": fmt(p.rate),
                "payment": fmt(-p.amount),
                "subaccountNumber": str(sub),
                "fundingIndex": "0",
            }
        )
    offset = 0
    if page is not None:
        rows.reverse()  # with a page: newest first (the controller orders createdAt DESC)
        offset = (max(page, 1) - 1) * limit
    chosen = rows[offset : offset + limit]
    return {
        "fundingPayments": chosen,
        "pageSize": limit,
        "totalResults": len(rows),
        "offset": offset,
    }


# ----- Hyperliquid --------------------------------------------------------------------------
def hyperliquid_user_funding(call: Call, account: LabAccount, body: dict[str, Any]) -> list[Any]:
    """POST /info {"type": "userFunding", "user", "startTime", "endTime"?}: oldest first, at
    most 500 entries (as the venue answers; the client pages on from the last time)."""
    start = _int(call, body, "startTime", 0) or 0
    end = _int(call, body, "endTime", call.now_ms) or call.now_ms
    return [
        {
            "time": _ms(p.at),
            "hash": "0x" + "0" * 64,
            "delta": {
                "type": "funding",
                "coin": _base(call, p.symbol),
                "usdc": fmt(-p.amount),
                "szi": fmt(_signed(p)),
                "fundingRate": fmt(p.rate),
                "nSamples": None,
            },
        }
        for _, p in _ledger(call, account)
        if start <= _ms(p.at) <= end
    ][:500]
