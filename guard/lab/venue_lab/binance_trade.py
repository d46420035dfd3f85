"""Binance USDⓈ-M account and order endpoints of the venue lab (positions, account, balance,
brackets; new, query, cancel and open orders) with the venue's order rules, each citing its
source. Not pure (the shared book). Error codes and messages: Binance USDⓈ-M "Error Codes"."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from guard.core.domain import INFINITY, MarginMode, MarketSpec, OrderSide, OrderStatus, Side
from guard.lab.venue_lab import rules
from guard.lab.venue_lab.book import LabAccount, LabOrder
from guard.lab.venue_lab.server import Call, Rejected
from guard.lab.venue_lab.views import AccountView, account_view, fmt

VENUE = "binance"
CLIENT_ID = r"[.A-Z:/a-z0-9_-]{1,36}"  # newClientOrderId [BN-api], venues.md §4.4
PERCENT_UP, PERCENT_DOWN = Decimal("1.05"), Decimal("0.95")  # PERCENT_PRICE filter


def error(code: int, msg: str, status: int = 400, rule: str = "", detail: str = "") -> Rejected:
    return Rejected(status, {"code": code, "msg": msg}, rule or str(code), detail or msg)


def _view(call: Call, account: LabAccount) -> AccountView:
    return account_view(call.book, account.paper)


def position_rows(call: Call, account: LabAccount, specs: dict[str, MarketSpec]) -> list[Any]:
    view = _view(call, account)
    rows = []
    by_symbol = {spec.symbol: market_id for market_id, spec in specs.items()}
    for p in view.positions:
        amount = p.signed
        if call.contradictory:  # a positionRisk that disagrees with the account endpoint
            amount = -amount
        isolated = p.margin_mode is MarginMode.ISOLATED
        rows.append(
            {
                "symbol": by_symbol[p.symbol],
                "positionSide": p.side.value.upper() if account.hedge_mode else "BOTH",
                "positionAmt": fmt(amount),
                "entryPrice": fmt(p.entry_price),
                "breakEvenPrice": fmt(p.entry_price),
                "markPrice": fmt(p.mark, 8),
                "unRealizedProfit": fmt(p.upnl, 8),
                "liquidationPrice": "0",
                "isolatedMargin": fmt(p.isolated_margin + p.upnl if isolated else Decimal(0), 8),
                "notional": fmt(p.signed * p.mark, 8),
                "marginAsset": "USDT",
                "marginType": "isolated" if isolated else "cross",
                "isolatedWallet": fmt(p.isolated_margin if isolated else Decimal(0), 8),
                "leverage": fmt(p.leverage),
                "initialMargin": fmt(p.initial_margin, 8),
                "maintMargin": fmt(p.maintenance, 8),
                "positionInitialMargin": fmt(p.initial_margin, 8),
                "openOrderInitialMargin": "0",
                "adl": 1,
                "bidNotional": "0",
                "askNotional": "0",
                "updateTime": call.now_ms,
            }
        )
    wanted = call.query.get("symbol")
    return [r for r in rows if not wanted or r["symbol"] == wanted]


def account_body(call: Call, account: LabAccount, specs: dict[str, MarketSpec]) -> Any:
    view = _view(call, account)
    # the account endpoint's rows name uPnL `unrealizedProfit` (positionRisk: `unRealizedProfit`)
    positions = [
        {**row, "unrealizedProfit": row["unRealizedProfit"]}
        for row in position_rows(replace(call, contradictory=False), account, specs)
    ]
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        "multiAssetsMargin": account.mode == "MULTI_ASSETS",  # [BN-api] /fapi/v2/account
        "totalInitialMargin": fmt(view.initial_margin, 8),
        "totalMaintMargin": fmt(view.maintenance, 8),
        "totalWalletBalance": fmt(
            view.wallet + sum((p.isolated_margin for p in view.isolated), Decimal(0)), 8
        ),
        "totalUnrealizedProfit": fmt(sum((p.upnl for p in view.positions), Decimal(0)), 8),
        "totalMarginBalance": fmt(view.equity, 8),
        "totalPositionInitialMargin": fmt(view.initial_margin, 8),
        "totalOpenOrderInitialMargin": "0.00000000",
        "totalCrossWalletBalance": fmt(view.wallet, 8),
        "totalCrossUnPnl": fmt(view.cross_upnl, 8),
        "availableBalance": fmt(view.available, 8),
        "maxWithdrawAmount": fmt(view.available, 8),
        "assets": [
            {
                "asset": "USDT",
                "walletBalance": fmt(view.wallet, 8),
                "unrealizedProfit": fmt(view.cross_upnl, 8),
                "marginBalance": fmt(view.equity, 8),
                "maintMargin": fmt(view.maintenance, 8),
                "initialMargin": fmt(view.initial_margin, 8),
                "positionInitialMargin": fmt(view.initial_margin, 8),
                "openOrderInitialMargin": "0.00000000",
                "crossWalletBalance": fmt(view.wallet, 8),
                "crossUnPnl": fmt(view.cross_upnl, 8),
                "availableBalance": fmt(view.available, 8),
                "maxWithdrawAmount": fmt(view.available, 8),
                "marginAvailable": True,
                "updateTime": call.now_ms,
            }
        ],
        "positions": positions,
    }


def balance_rows(call: Call, account: LabAccount) -> Any:
    view = _view(call, account)
    return [
        {
            "accountAlias": "lab",
            "asset": "USDT",
            "balance": fmt(view.wallet, 8),
            "crossWalletBalance": fmt(view.wallet, 8),
            "crossUnPnl": fmt(view.cross_upnl, 8),
            "availableBalance": fmt(view.available, 8),
            "maxWithdrawAmount": fmt(view.available, 8),
            "marginAvailable": True,
            "updateTime": call.now_ms,
        }
    ]


def bracket_rows(call: Call, specs: dict[str, MarketSpec]) -> Any:
    rows = []
    for market_id, spec in sorted(specs.items()):
        if call.query.get("symbol") not in (None, market_id):
            continue
        brackets = []
        for index, tier in enumerate(spec.tiers, start=1):
            cap = tier.notional_cap if tier.notional_cap != INFINITY else Decimal(10) ** 10
            brackets.append(
                {
                    "bracket": index,
                    "initialLeverage": int(tier.max_leverage or 1),
                    "notionalCap": float(cap),
                    "notionalFloor": float(tier.notional_floor),
                    "maintMarginRatio": float(tier.maintenance_rate),
                    "cum": float(tier.maintenance_deduction),
                }
            )
        rows.append({"symbol": market_id, "notionalCoef": 1.0, "brackets": brackets})
    return rows


# ----- orders ---------------------------------------------------------------------------------


def order_body(order: LabOrder, market_id: str, full: bool) -> dict[str, Any]:
    """The order as Binance reports it; `full` False is the default ACK answer of a new order
    (status NEW, nothing executed yet: newOrderRespType=ACK, [BN-api])."""
    status = _status(order)
    executed = order.filled if full else Decimal(0)
    average = order.average_price if full and order.average_price is not None else Decimal(0)
    return {
        "orderId": order.order_id,
        "symbol": market_id,
        "status": status if full else "NEW",
        "clientOrderId": order.client_id,
        "price": fmt(order.price or Decimal(0)),
        "avgPrice": fmt(average),
        "origQty": fmt(order.quantity),
        "executedQty": fmt(executed),
        "cumQty": fmt(executed),
        "cumQuote": fmt(executed * average),
        "timeInForce": order.time_in_force,
        "type": order.order_type.upper(),
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": order.side.value.upper(),
        "positionSide": order.position_side,
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": order.order_type.upper(),
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "time": int(order.created.timestamp() * 1000),
        "updateTime": int(order.updated.timestamp() * 1000),
    }


def _status(order: LabOrder) -> str:
    if order.status is OrderStatus.FILLED:
        return "FILLED"
    if order.status is OrderStatus.ACKNOWLEDGED:
        return "NEW"
    if order.cancelled:
        return "CANCELED"
    return "EXPIRED"  # an IOC/market order whose rest was not filled


def _decimal(params: dict[str, str], name: str) -> Decimal:
    raw = params.get(name)
    if raw is None or raw == "":
        raise error(
            -1102,
            f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
            rule="mandatory",
            detail=f"{name} missing",
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise error(
            -1102,
            f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
            rule="mandatory",
            detail=f"{name}={raw!r}",
        ) from None
    if not value.is_finite():
        raise error(-1102, f"Mandatory parameter '{name}' was malformed.", rule="mandatory")
    return value


def check_order(
    call: Call,
    account: LabAccount,
    params: dict[str, str],
    spec: MarketSpec,
    lot_max: Decimal,
    market_max: Decimal,
) -> tuple[OrderSide, Decimal, Decimal | None, str, bool, str, str]:
    """The venue's order rules, in the order Binance applies them; returns the parsed order."""
    side_raw, kind = params.get("side", ""), params.get("type", "").upper()
    if side_raw not in ("BUY", "SELL") or kind not in ("MARKET", "LIMIT"):
        raise error(
            -1116 if side_raw in ("BUY", "SELL") else -1117,
            "Invalid orderType." if side_raw in ("BUY", "SELL") else "Invalid side.",
            rule="mandatory",
        )
    side = OrderSide.SELL if side_raw == "SELL" else OrderSide.BUY
    quantity = _decimal(params, "quantity")
    price = _decimal(params, "price") if kind == "LIMIT" else None
    client_id = params.get("newClientOrderId", "")
    if client_id:
        bad = rules.client_id_format(client_id, CLIENT_ID)
        if bad:  # [BN-api] newClientOrderId regex
            raise error(-4015, "Client order id is not valid.", rule=bad.rule, detail=bad.detail)
        if any(o.client_id == client_id for o in call.book.open_orders(VENUE, account.paper)):
            # "a unique id among open orders" [BN-api]; reuse after the order ended is allowed
            raise error(
                -4116,
                "ClientOrderId is duplicated.",
                rule="client_id_reused",
                detail=f"{client_id} is the id of an open order",
            )
    position_side = params.get("positionSide", "BOTH").upper()
    reduce_only = params.get("reduceOnly", "false").lower() == "true"
    if account.hedge_mode:
        if position_side not in ("LONG", "SHORT"):  # "positionSide must be sent in Hedge Mode"
            raise error(
                -4061,
                "Order's position side does not match user's setting.",
                rule="position_side",
                detail=f"hedge mode needs LONG/SHORT, got {position_side}",
            )
        if "reduceOnly" in params:  # "Cannot be sent in Hedge Mode" [BN-api]
            raise error(
                -1106,
                "Parameter 'reduceonly' sent when not required.",
                rule="position_side",
                detail="reduceOnly sent in hedge mode",
            )
    elif position_side != "BOTH":
        raise error(
            -4061,
            "Order's position side does not match user's setting.",
            rule="position_side",
            detail=f"one-way mode needs BOTH, got {position_side}",
        )
    if price is not None:
        for bad in (rules.price_on_tick(price, spec.price_tick),):
            if bad:  # PRICE_FILTER.tickSize
                raise error(
                    -4014, "Price not increased by tick size.", rule=bad.rule, detail=bad.detail
                )
        mark = call.book.mark(spec.symbol)
        if price > mark * PERCENT_UP:  # PERCENT_PRICE filter
            raise error(
                -4016,
                f"Limit price can't be higher than {fmt(mark * PERCENT_UP, 2)}.",
                rule="percent_price",
                detail=f"price {price} above mark band",
            )
        if price < mark * PERCENT_DOWN:
            raise error(
                -4024,
                f"Limit price can't be lower than {fmt(mark * PERCENT_DOWN, 2)}.",
                rule="percent_price",
                detail=f"price {price} below mark band",
            )
    bad = rules.size_on_step(quantity, spec.amount_step)
    if bad:  # LOT_SIZE.stepSize
        code, msg = (
            (-4003, "Quantity less than or equal to zero.")
            if quantity <= 0
            else (-4023, "Quantity not increased by step size.")
        )
        raise error(code, msg, rule=bad.rule, detail=bad.detail)
    bad = rules.size_at_least(quantity, spec.min_amount or spec.amount_step)
    if bad:  # LOT_SIZE.minQty
        raise error(-4004, "Quantity less than min quantity.", rule=bad.rule, detail=bad.detail)
    bad = rules.size_at_most(quantity, market_max if kind == "MARKET" else lot_max)
    if bad:  # MARKET_LOT_SIZE.maxQty / LOT_SIZE.maxQty
        raise error(-4005, "Quantity greater than max quantity.", rule=bad.rule, detail=bad.detail)
    reference = price if price is not None else call.book.mark(spec.symbol)
    bad = rules.notional_at_least(quantity, reference, spec.min_notional, exempt=reduce_only)
    if bad:  # MIN_NOTIONAL; reduce-only exempt (-4164 text, venues.md §4.4)
        raise error(
            -4164,
            f"Order's notional must be no smaller than {fmt(spec.min_notional)} "
            "(unless you choose reduce only).",
            rule=bad.rule,
            detail=bad.detail,
        )
    if reduce_only:
        held = call.book.signed_position(account.paper, spec.symbol)
        # [BN-failed]: rejected when on the position's side, or (limit only) larger than it;
        # a reduce-only MARKET order at or above the position closes it
        bad = rules.reduce_only(
            held, side is OrderSide.SELL, quantity, oversize_allowed=kind == "MARKET"
        )
        if bad:
            raise error(-2022, "ReduceOnly Order is rejected.", rule=bad.rule, detail=bad.detail)
    elif account.hedge_mode:
        leg = call.book.signed_position(account.paper, spec.symbol, Side(position_side.lower()))
        closes = (position_side == "LONG") == (side is OrderSide.SELL)
        if not closes or leg == 0:
            raise _opening(position_side)
        if quantity > abs(leg):  # a hedge-mode close above the leg [BN-failed] (b)
            raise error(
                -2022,
                "ReduceOnly Order is rejected.",
                rule="reduce_only_flip",
                detail=f"close of {quantity} above the {position_side} leg {abs(leg)}",
            )
    else:
        held = call.book.signed_position(account.paper, spec.symbol)
        if held == 0 or (held > 0) != (side is OrderSide.SELL) or quantity > abs(held):
            raise _opening(position_side)
    tif = params.get("timeInForce", "GTC")
    return side, quantity, price, kind.lower(), reduce_only, position_side, tif


def _opening(position_side: str) -> Rejected:
    return error(
        -2019,
        "Margin is insufficient.",
        rule="lab_opening",
        detail=f"venue lab: opening or increasing a {position_side} position is not "
        "simulated (the paper engine only reduces)",
    )


def client_id_or_generated(params: dict[str, str], order_id: int) -> str:
    given = params.get("newClientOrderId")
    return given if given else f"lab{order_id}"


def lookup(call: Call, account: LabAccount, params: dict[str, str]) -> LabOrder:
    """The order by orderId or origClientOrderId (either is mandatory); -2013 when unknown."""
    found: LabOrder | None = None
    if params.get("orderId"):
        if not re.fullmatch(r"[0-9]+", params["orderId"]):
            raise error(-1102, "Mandatory parameter 'orderId' was malformed.", rule="mandatory")
        found = call.book.find_id(VENUE, account.paper, int(params["orderId"]))
    elif params.get("origClientOrderId"):
        found = call.book.find(VENUE, account.paper, params["origClientOrderId"])
    else:
        raise error(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            rule="mandatory",
        )
    if found is None:
        raise error(-2013, "Order does not exist.", rule="unknown_order")
    return found
