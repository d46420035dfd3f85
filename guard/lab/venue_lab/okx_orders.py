"""OKX v5 order placement, query, pending list and cancel in the venue lab, with OKX's per-order
sCode answers ({code: "1", data: [{sCode, sMsg}]}) for every refused rule. Not pure (the shared
book). Sources: venues.md §6.4 ([OKX], the 2023-06-19 closing-order note; sCodes as in ccxt)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from guard.core.domain import MarginMode, OrderSide, OrderStatus, Side
from guard.lab.venue_lab import rules
from guard.lab.venue_lab.book import LabAccount, LabOrder
from guard.lab.venue_lab.okx_trade import CL_ORD_ID, MAX_MKT_USD, _spec, ct_val, lot
from guard.lab.venue_lab.server import Call, Rejected
from guard.lab.venue_lab.views import fmt

VENUE = "okx"


def failed(code: str, msg: str, rule: str, detail: str, cl_ord_id: str = "") -> Rejected:
    body = {
        "code": "1",
        "msg": "All operations failed",
        "data": [{"clOrdId": cl_ord_id, "ordId": "", "sCode": code, "sMsg": msg, "tag": ""}],
    }
    return Rejected(200, body, rule, detail or msg)


def _number(params: dict[str, Any], name: str, cl: str) -> Decimal:
    try:
        value = Decimal(str(params[name]))
    except (KeyError, InvalidOperation):
        raise failed("51000", f"Parameter {name} error", "mandatory", name, cl) from None
    if not value.is_finite():
        raise failed("51000", f"Parameter {name} error", "mandatory", name, cl)
    return value


async def place(call: Call, account: LabAccount, params: dict[str, Any]) -> Any:
    spec = _spec(call, params.get("instId"))
    cl = str(params.get("clOrdId") or "")
    if cl:
        bad = rules.client_id_format(cl, CL_ORD_ID)
        if bad:  # clOrdId 1–32 alphanumerics
            raise failed("51000", "Parameter clOrdId error", bad.rule, bad.detail, cl)
        if call.book.find(VENUE, account.paper, cl) is not None:  # unique per account
            raise failed("51016", "Duplicated clOrdId", "client_id_reused", cl, cl)
    side_raw, kind = params.get("side"), str(params.get("ordType", ""))
    if side_raw not in ("buy", "sell") or kind not in ("market", "limit", "ioc", "fok"):
        raise failed("51000", "Parameter side or ordType error", "mandatory", "", cl)
    side = OrderSide.SELL if side_raw == "sell" else OrderSide.BUY
    mode_raw = params.get("tdMode")
    if mode_raw not in ("cross", "isolated"):
        raise failed("51000", "Parameter tdMode error", "mandatory", str(mode_raw), cl)
    mode = MarginMode(mode_raw)
    contracts = _number(params, "sz", cl)
    price = _number(params, "px", cl) if kind != "market" else None
    pos_side = str(params.get("posSide") or "net")
    if account.hedge_mode != (pos_side in ("long", "short")):  # posSide by position mode
        raise failed(
            "51000",
            "Parameter posSide error",
            "position_side",
            f"posSide {pos_side} in {'long/short' if account.hedge_mode else 'net'} mode",
            cl,
        )
    reduce_only = params.get("reduceOnly") in (True, "true")
    if price is not None:
        bad = rules.price_on_tick(price, spec.price_tick)
        if bad:  # tickSz
            raise failed("51000", "Parameter px error", bad.rule, bad.detail, cl)
    bad = rules.size_on_step(contracts, lot(spec))
    if bad:  # lotSz: 51121 (venues.md §6.4)
        raise failed(
            "51121",
            "Order count should be the integer multiples of the lot size",
            bad.rule,
            bad.detail,
            cl,
        )
    bad = rules.size_at_least(contracts, lot(spec))
    if bad:  # minSz
        raise failed(
            "51020",
            "Order amount should be greater than the min available amount",
            bad.rule,
            bad.detail,
            cl,
        )
    quantity = contracts * ct_val(spec)
    reference = price if price is not None else call.book.mark(spec.symbol)
    if kind == "market" and quantity * reference > MAX_MKT_USD:  # maxMktAmt
        raise failed(
            "51202",
            "Market - order amount exceeds the max amount",
            "max_size",
            f"{quantity * reference} USDT",
            cl,
        )
    leg = {"long": Side.LONG, "short": Side.SHORT}.get(pos_side)
    held = _held(call, account, spec.symbol, mode, leg)
    closing = held != 0 and (held > 0) == (side is OrderSide.SELL)
    if account.hedge_mode:
        # long/short mode: every closing order reduces; excess closing orders are trimmed
        # (OKX 2023-06-19); opening is not simulated by the lab
        if not closing:
            raise failed(
                "51008",
                "Order placement failed due to insufficient balance or margin",
                "lab_opening",
                "venue lab: opening is not simulated",
                cl,
            )
    elif reduce_only:
        # reduceOnly in net mode: 51169 "no position in this direction" (also an isolated
        # position approached with tdMode cross); larger than the position: 51112
        if not closing:
            raise failed(
                "51169",
                "Order failed because you don't have any positions in this "
                "direction for this contract to reduce or close.",
                "reduce_only_increase",
                f"position {held} with tdMode {mode.value}",
                cl,
            )
        if quantity > abs(held):
            raise failed(
                "51112",
                "Close order size exceeds your available size",
                "reduce_only_flip",
                f"{quantity} > {abs(held)}",
                cl,
            )
    elif not closing or quantity > abs(held):
        raise failed(
            "51008",
            "Order placement failed due to insufficient balance or margin",
            "lab_opening",
            "venue lab: opening or increasing is not simulated",
            cl,
        )
    order = await call.book.execute(
        VENUE,
        account,
        client_id=cl,
        symbol=spec.symbol,
        side=side,
        quantity=quantity,
        price=price,
        order_type="market" if kind == "market" else "limit",
        time_in_force={"limit": "GTC", "ioc": "IOC", "fok": "FOK"}.get(kind, "IOC"),
        reduce_only=reduce_only,
        position_side=pos_side.upper() if leg else "BOTH",
        step=spec.amount_step,
    )
    return {
        "code": "0",
        "msg": "",
        "data": [
            {
                "clOrdId": cl,
                "ordId": str(order.order_id),
                "tag": str(params.get("tag") or ""),
                "ts": str(call.now_ms),
                "sCode": "0",
                "sMsg": "Order placed",
            }
        ],
    }


def _held(call: Call, account: LabAccount, symbol: str, mode: MarginMode, leg: Side | None) -> Any:
    total = Decimal(0)
    for key, position in call.book.paper.accounts[account.paper].positions.items():
        if key.symbol == symbol and position.margin_mode is mode and leg in (None, key.side):
            total += position.side.sign * position.quantity
    return total


def order_row(call: Call, order: LabOrder) -> dict[str, Any]:
    spec = call.book.paper.markets[order.symbol]
    unit = ct_val(spec)
    if order.status is OrderStatus.FILLED:
        state = "filled"
    elif order.open:
        state = "live"
    else:
        state = "canceled"
    return {
        "instType": "SWAP",
        "instId": f"{spec.base}-USDT-SWAP",
        "ordId": str(order.order_id),
        "clOrdId": order.client_id,
        "tag": "",
        "px": fmt(order.price) if order.price else "",
        "sz": fmt(order.quantity / unit),
        "ordType": order.order_type
        if order.time_in_force not in ("IOC", "FOK") or order.order_type == "market"
        else order.time_in_force.lower(),
        "side": order.side.value,
        "posSide": order.position_side.lower() if order.position_side != "BOTH" else "net",
        "tdMode": "cross",
        "accFillSz": fmt(order.filled / unit),
        "fillPx": fmt(order.average_price) if order.average_price else "",
        "avgPx": fmt(order.average_price) if order.average_price else "",
        "state": state,
        "lever": "",
        "fee": fmt(-order.fee),
        "feeCcy": "USDT",
        "reduceOnly": "true" if order.reduce_only else "false",
        "cTime": str(int(order.created.timestamp() * 1000)),
        "uTime": str(int(order.updated.timestamp() * 1000)),
    }


def _find(call: Call, account: LabAccount, params: dict[str, Any]) -> LabOrder | None:
    if params.get("clOrdId"):
        return call.book.find(VENUE, account.paper, str(params["clOrdId"]))
    if params.get("ordId") and re.fullmatch(r"[0-9]+", str(params["ordId"])):
        return call.book.find_id(VENUE, account.paper, int(params["ordId"]))
    return None


def get_order(call: Call, account: LabAccount, params: dict[str, Any]) -> Any:
    if not params.get("clOrdId") and not params.get("ordId"):
        raise Rejected(
            200,
            {"code": "51003", "msg": "Either client order ID or order ID is required", "data": []},
            "mandatory",
            "no id",
        )
    found = _find(call, account, params)
    if found is None:
        raise Rejected(
            200,
            {"code": "51603", "msg": "Order does not exist", "data": []},
            "unknown_order",
            str(params),
        )
    return {"code": "0", "msg": "", "data": [order_row(call, found)]}


def pending(call: Call, account: LabAccount, params: dict[str, Any]) -> Any:
    rows = [order_row(call, o) for o in call.book.open_orders(VENUE, account.paper)]
    return {"code": "0", "msg": "", "data": rows}


def cancel(call: Call, account: LabAccount, params: dict[str, Any]) -> Any:
    found = _find(call, account, params)
    cl = str(params.get("clOrdId") or "")
    if found is None or not found.open:
        raise failed(
            "51400",
            "Cancellation failed as the order has been filled, canceled or does not exist",
            "unknown_order",
            cl,
            cl,
        )
    call.book.cancel(found)
    return {
        "code": "0",
        "msg": "",
        "data": [
            {"clOrdId": found.client_id, "ordId": str(found.order_id), "sCode": "0", "sMsg": ""}
        ],
    }
