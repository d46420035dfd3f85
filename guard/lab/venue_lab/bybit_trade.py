"""Bybit v5 account and order endpoints of the venue lab (position list, unified wallet, order
create / realtime / history / cancel) with the venue's order rules, each citing its source. Not
pure (the shared book). Sources: venues.md §5.4 [BY-docs create-order.mdx], ccxt's retCode table."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from guard.core.domain import MarginMode, MarketSpec, OrderSide, OrderStatus, Side
from guard.lab.venue_lab import rules
from guard.lab.venue_lab.book import LabAccount, LabOrder
from guard.lab.venue_lab.server import Call, Rejected
from guard.lab.venue_lab.views import account_view, fmt

VENUE = "bybit"
LINK_ID = r"[A-Za-z0-9_-]{1,36}"  # orderLinkId: ≤ 36 of letters, digits, - and _ [BY-docs]
MAX_QTY = {"BTC": Decimal(1190), "ETH": Decimal(7240), "SOL": Decimal(79770)}


SETTLE_COIN = "USDT"  # every lab market is a USDT-settled linear perpetual
CLASSIC = "CLASSIC"  # a lab mode: a classic (non-unified) account, unifiedMarginStatus 1


def error(code: int, msg: str, rule: str = "", detail: str = "") -> Rejected:
    body = {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": 0}
    return Rejected(200, body, rule or str(code), detail or msg)


def places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def max_qty(spec: MarketSpec) -> Decimal:
    return MAX_QTY.get(spec.base, Decimal(100000))


def max_market_qty(spec: MarketSpec) -> Decimal:
    return max_qty(spec) / 5


def mark(call: Call, symbol: str) -> Decimal:
    moment = call.book.paper.now - timedelta(milliseconds=call.stale_ms)
    return call.book.paper.path.price(symbol, moment)


def _on_tick(value: Decimal, tick: Decimal) -> Decimal:
    return (value / tick).to_integral_value() * tick


def touch(call: Call, spec: MarketSpec, price: Decimal) -> tuple[Decimal, Decimal]:
    half = call.book.paper.slippage.half_spread
    return _on_tick(price * (1 - half), spec.price_tick), _on_tick(
        price * (1 + half), spec.price_tick
    )


def levels(call: Call, spec: MarketSpec, price: Decimal, depth: int) -> tuple[list[Any], list[Any]]:
    half = call.book.paper.slippage.half_spread
    bids, asks = [], []
    for level in range(depth):
        offset = half * (1 + level)
        size = fmt(spec.amount_step * 1000 * (level + 1))
        bids.append([fmt(_on_tick(price * (1 - offset), spec.price_tick)), size])
        asks.append([fmt(_on_tick(price * (1 + offset), spec.price_tick)), size])
    return bids, asks


def _market_id(call: Call, symbol: str) -> str:
    return call.book.paper.markets[symbol].base + "USDT"


# ----- account ----------------------------------------------------------------------------------


def positions(call: Call, account: LabAccount, params: dict[str, Any], specs: Any) -> Any:
    """`/v5/position/list` [BY-docs position.mdx]: linear needs `symbol` or `settleCoin`; with
    `settleCoin` alone only that coin's perps with a size > 0 are listed (every lab market
    settles in USDT, so `settleCoin=USDC` lists none)."""
    wanted = params.get("symbol")
    coin = params.get("settleCoin")
    if not wanted and not coin:
        raise error(10001, "params error: symbol or settleCoin is required", "settle_coin")
    if coin not in (None, "", "USDT", "USDC"):
        raise error(10001, f"params error: settleCoin {coin} invalid", "settle_coin", str(coin))
    if not wanted and coin != SETTLE_COIN:
        return {"category": "linear", "list": [], "nextPageCursor": ""}
    view = account_view(call.book, account.paper)
    portfolio = margin_mode(call, account) == "PORTFOLIO_MARGIN"
    rows = []
    for p in view.positions:
        isolated = p.margin_mode is MarginMode.ISOLATED
        index = (1 if p.side is Side.LONG else 2) if account.hedge_mode else 0
        side = "Buy" if p.side is Side.LONG else "Sell"
        if call.contradictory:
            side = "Sell" if side == "Buy" else "Buy"
        rows.append(
            {
                "positionIdx": index,
                "riskId": 1,
                "riskLimitValue": fmt(p.spec.tier_for(p.notional).notional_cap)
                if p.spec.tier_for(p.notional).notional_cap.is_finite()
                else "10000000000",
                "symbol": _market_id(call, p.symbol),
                "side": side,
                "size": fmt(p.quantity),
                "avgPrice": fmt(p.entry_price),
                "positionValue": fmt(p.notional),
                # deprecated, always 0 on UTA: the mode is account/info's [BY-docs position.mdx]
                "tradeMode": 0,
                "positionStatus": "Normal",
                "autoAddMargin": 0,
                "adlRankIndicator": 2,
                "leverage": fmt(p.leverage),
                "positionBalance": fmt(p.isolated_margin) if isolated else "",
                "markPrice": fmt(p.mark),
                "liqPrice": "",
                "bustPrice": "",
                # portfolio margin: per-position IM/MM/liqPrice are empty [BY-docs position.mdx]
                "positionMM": "" if portfolio else fmt(p.maintenance, 8),
                "positionIM": ""
                if portfolio
                else fmt(p.isolated_margin if isolated else p.initial_margin, 8),
                "tpslMode": "Full",
                "takeProfit": "0",
                "stopLoss": "0",
                "trailingStop": "0",
                "unrealisedPnl": fmt(p.upnl, 8),
                "curRealisedPnl": "0",
                "cumRealisedPnl": "0",
                "createdTime": "1722816000000",
                "updatedTime": str(call.now_ms),
                "seq": call.now_ms,
                "isReduceOnly": False,
            }
        )
    rows = [r for r in rows if not wanted or r["symbol"] == wanted]
    return {"category": "linear", "list": rows, "nextPageCursor": ""}


def wallet(call: Call, account: LabAccount, params: dict[str, Any], specs: Any) -> Any:
    view = account_view(call.book, account.paper)
    inside = view.wallet + sum((p.isolated_margin for p in view.isolated), Decimal(0))
    upnl = sum((p.upnl for p in view.positions), Decimal(0))
    mm, im = view.maintenance, view.initial_margin
    margin_balance = inside + upnl
    return {
        "list": [
            {
                "accountType": "UNIFIED",
                "accountIMRate": fmt(im / margin_balance if margin_balance else Decimal(0), 4),
                "accountMMRate": fmt(mm / margin_balance if margin_balance else Decimal(0), 4),
                "totalEquity": fmt(view.equity, 8),
                "totalWalletBalance": fmt(inside, 8),
                "totalMarginBalance": fmt(margin_balance, 8),
                "totalAvailableBalance": fmt(view.available, 8),
                "totalPerpUPL": fmt(upnl, 8),
                "totalInitialMargin": fmt(im, 8),
                "totalMaintenanceMargin": fmt(mm, 8),
                "accountLTV": "0",
                "coin": [
                    {
                        "coin": "USDT",
                        "equity": fmt(view.equity, 8),
                        "usdValue": fmt(view.equity, 8),
                        "walletBalance": fmt(inside, 8),
                        "locked": "0",
                        "borrowAmount": "0",
                        "accruedInterest": "0",
                        "totalOrderIM": "0",
                        "totalPositionIM": fmt(im, 8),
                        "totalPositionMM": fmt(mm, 8),
                        "unrealisedPnl": fmt(upnl, 8),
                        "cumRealisedPnl": "0",
                        "bonus": "0",
                        "marginCollateral": True,
                        "collateralSwitch": True,
                        "availableToWithdraw": "",
                    }
                ],
            }
        ]
    }


def margin_mode(call: Call, account: LabAccount) -> str:
    """The account-wide UTA margin mode [BY-docs account/account-info.mdx; venues.md §5.1, §10]:
    the lab account's configured `mode`, REGULAR_MARGIN by default (the lab seeds a Bybit
    account's positions in that one mode: `venue_portfolio`)."""
    return account.mode or "REGULAR_MARGIN"


def account_info(call: Call, account: LabAccount, params: dict[str, Any], specs: Any) -> Any:
    """`/v5/account/info` [BY-docs account/account-info.mdx]: unifiedMarginStatus 4/5/6 are UTA
    (1 classic); marginMode ISOLATED_MARGIN | REGULAR_MARGIN | PORTFOLIO_MARGIN."""
    mode = margin_mode(call, account)
    return {
        "unifiedMarginStatus": 1 if mode == CLASSIC else 4,
        "marginMode": "REGULAR_MARGIN" if mode == CLASSIC else mode,
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
        "updatedTime": str(call.now_ms),
    }


# ----- orders -----------------------------------------------------------------------------------


def order_row(order: LabOrder) -> dict[str, Any]:
    if order.status is OrderStatus.FILLED:
        status = "Filled"
    elif order.open:
        status = "New"
    elif order.filled > 0:
        status = "PartiallyFilledCanceled"
    else:
        status = "Cancelled"
    average = order.average_price
    return {
        "orderId": f"{order.order_id:08x}-0000-4000-8000-000000000000",
        "orderLinkId": order.client_id,
        "blockTradeId": "",
        "symbol": order.symbol.split("/")[0] + "USDT",
        "price": fmt(order.price or Decimal(0)),
        "qty": fmt(order.quantity),
        "side": "Sell" if order.side is OrderSide.SELL else "Buy",
        "isLeverage": "",
        "positionIdx": {"BOTH": 0, "LONG": 1, "SHORT": 2}[order.position_side],
        "orderStatus": status,
        "cancelType": "UNKNOWN" if status == "Filled" else "CancelByUser",
        "rejectReason": "EC_NoError",
        "avgPrice": fmt(average) if average is not None else "",
        "leavesQty": fmt(order.quantity - order.filled) if order.open else "0",
        "leavesValue": "0",
        "cumExecQty": fmt(order.filled),
        "cumExecValue": fmt(order.filled * (average or Decimal(0))),
        "cumExecFee": fmt(order.fee),
        "timeInForce": order.time_in_force,
        "orderType": order.order_type.capitalize(),
        "stopOrderType": "",
        "triggerPrice": "",
        "takeProfit": "",
        "stopLoss": "",
        "reduceOnly": order.reduce_only,
        "closeOnTrigger": False,
        "createdTime": str(int(order.created.timestamp() * 1000)),
        "updatedTime": str(int(order.updated.timestamp() * 1000)),
    }


def _find(call: Call, account: LabAccount, params: dict[str, Any]) -> LabOrder | None:
    if params.get("orderLinkId"):
        return call.book.find(VENUE, account.paper, str(params["orderLinkId"]))
    if params.get("orderId"):
        for order in call.book.all_orders(VENUE, account.paper):
            if order_row(order)["orderId"] == params["orderId"]:
                return order
    return None


def realtime(call: Call, account: LabAccount, params: dict[str, Any], specs: Any) -> Any:
    """Open orders; with orderId/orderLinkId also that order after it ended (v5 realtime)."""
    if params.get("orderLinkId") or params.get("orderId"):
        found = _find(call, account, params)
        rows = [order_row(found)] if found is not None else []
    else:
        rows = [order_row(o) for o in call.book.open_orders(VENUE, account.paper)]
    return {"category": "linear", "list": rows, "nextPageCursor": ""}


def history(call: Call, account: LabAccount, params: dict[str, Any], specs: Any) -> Any:
    if params.get("orderLinkId") or params.get("orderId"):
        found = _find(call, account, params)
        rows = [order_row(found)] if found is not None and not found.open else []
    else:
        rows = [order_row(o) for o in call.book.all_orders(VENUE, account.paper) if not o.open]
    return {"category": "linear", "list": rows, "nextPageCursor": ""}


def cancel(call: Call, account: LabAccount, params: dict[str, Any], specs: Any) -> Any:
    found = _find(call, account, params)
    if found is None or not found.open:
        raise error(110001, "Order does not exist.", "unknown_order")
    call.book.cancel(found)
    row = order_row(found)
    return {"orderId": row["orderId"], "orderLinkId": row["orderLinkId"]}


def _decimal(params: dict[str, Any], name: str) -> Decimal:
    try:
        value = Decimal(str(params[name]))
    except (KeyError, InvalidOperation):
        raise error(10001, f"params error: {name} invalid", "mandatory", name) from None
    if not value.is_finite():
        raise error(10001, f"params error: {name} invalid", "mandatory", name)
    return value


async def create(call: Call, account: LabAccount, params: dict[str, Any], specs: Any) -> Any:
    spec: MarketSpec | None = specs.get(params.get("symbol"))
    if spec is None:
        raise error(10001, "params error: symbol invalid", "symbol")
    side_raw, kind = params.get("side"), str(params.get("orderType", ""))
    if side_raw not in ("Buy", "Sell") or kind not in ("Market", "Limit"):
        raise error(10001, "params error: side or orderType invalid", "mandatory")
    side = OrderSide.SELL if side_raw == "Sell" else OrderSide.BUY
    qty = _decimal(params, "qty")
    price = _decimal(params, "price") if kind == "Limit" else None
    link = str(params.get("orderLinkId") or "")
    if link:
        bad = rules.client_id_format(link, LINK_ID)
        if bad:  # orderLinkId format [BY-docs]
            raise error(10001, "params error: orderLinkId invalid", bad.rule, bad.detail)
        if call.book.find(VENUE, account.paper, link) is not None:  # "always unique" [BY-docs]
            raise error(110072, "OrderLinkedID is duplicate", "client_id_reused", link)
    index = int(params.get("positionIdx") or 0)
    if account.hedge_mode != (index in (1, 2)):  # positionIdx 0 one-way, 1/2 hedge [BY-docs]
        raise error(
            10001,
            "position idx not match position mode",
            "position_side",
            f"positionIdx {index} in {'hedge' if account.hedge_mode else 'one-way'} mode",
        )
    reduce_only = params.get("reduceOnly") in (True, "true")
    if price is not None:
        bad = rules.price_on_tick(price, spec.price_tick)
        if bad:  # priceFilter.tickSize
            raise error(10001, "params error: price invalid", bad.rule, bad.detail)
    bad = rules.size_on_step(qty, spec.amount_step)
    if bad:  # lotSizeFilter.qtyStep
        raise error(10001, "Qty invalid", bad.rule, bad.detail)
    bad = rules.size_at_least(qty, spec.min_amount or spec.amount_step)
    if bad:  # lotSizeFilter.minOrderQty
        raise error(
            10001, "The number of contracts exceeds minimum limit allowed", bad.rule, bad.detail
        )
    limit = max_market_qty(spec) if kind == "Market" else max_qty(spec)
    bad = rules.size_at_most(qty, limit)
    if bad and not reduce_only:  # maxMktOrderQty / maxOrderQty; a bigger RO order is split
        raise error(
            10001,
            "The number of contracts exceeds maximum limit allowed: too large",
            bad.rule,
            bad.detail,
        )
    reference = price if price is not None else mark(call, spec.symbol)
    bad = rules.notional_at_least(qty, reference, spec.min_notional, exempt=reduce_only)
    if bad:  # lotSizeFilter.minNotionalValue
        raise error(110094, "Order notional value below the lower limit", bad.rule, bad.detail)
    leg_side = {1: Side.LONG, 2: Side.SHORT}.get(index)
    held = call.book.signed_position(account.paper, spec.symbol, leg_side)
    position_side = {0: "BOTH", 1: "LONG", 2: "SHORT"}[index]
    closing = held != 0 and (held > 0) == (side is OrderSide.SELL)
    if reduce_only or account.hedge_mode:
        # 110017 "Reduce-only rule not satisfied": on the position's side or beyond it
        # (oversize UNVERIFIED on Bybit, venues.md §5.4: the lab refuses it)
        bad = rules.reduce_only(held, side is OrderSide.SELL, qty, oversize_allowed=False)
        if bad and (reduce_only or closing or held == 0):
            if reduce_only or closing:
                raise error(110017, "Reduce-only rule not satisfied", bad.rule, bad.detail)
            raise error(
                110007,
                "ab not enough for new order",
                "lab_opening",
                "venue lab: opening is not simulated",
            )
    elif not closing or qty > abs(held):
        raise error(
            110007,
            "ab not enough for new order",
            "lab_opening",
            "venue lab: opening or increasing a position is not simulated",
        )
    order = await call.book.execute(
        VENUE,
        account,
        client_id=link,
        symbol=spec.symbol,
        side=side,
        quantity=qty,
        price=price,
        order_type=kind.lower(),
        time_in_force=str(params.get("timeInForce") or ("IOC" if kind == "Market" else "GTC")),
        reduce_only=reduce_only,
        position_side=position_side,
        step=spec.amount_step,
    )
    row = order_row(order)
    return {"orderId": row["orderId"], "orderLinkId": row["orderLinkId"]}
