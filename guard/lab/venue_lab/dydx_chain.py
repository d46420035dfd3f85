"""The dYdX v4 chain side of the venue lab: market integer grids (quantums, subticks), the
broadcast of a signed MsgPlaceOrder checked as ValidateBasic and CheckTx do, and the indexer's
view of the orders that reached the book. Not pure (the shared book). Sources: venues.md §2.4,
[DY-chain] x/clob/types/{message_place_order.go,order.go,errors.go} (codes and messages)."""

from __future__ import annotations

import hashlib
import re
import uuid
from decimal import Decimal
from typing import Any, Protocol

from guard.core.domain import MarketSpec, OrderSide, OrderStatus
from guard.lab.venue_lab import rules
from guard.lab.venue_lab.book import LabAccount
from guard.lab.venue_lab.dydx_tx import CANCEL, PLACE, TxError, decode_tx
from guard.lab.venue_lab.server import Call, Rejected, Rejection
from guard.lab.venue_lab.views import fmt


class Dydx(Protocol):
    """What the chain side needs of the dYdX module: markets, the block height, placed ids,
    each order's subaccount and what a subaccount holds."""

    placed: dict[tuple[str, int, int, int, int], int]
    order_subaccounts: dict[tuple[str, str], int]

    def held(self, call: Call, account: LabAccount, number: int, symbol: str) -> Decimal: ...

    def specs(self, call: Call) -> dict[str, MarketSpec]: ...

    def height(self, call: Call) -> int: ...


VENUE = "dydx"
NAMESPACE = uuid.UUID("0f9da948-a6fb-4c45-9edc-4685c3f3317d")  # the indexer's uuid namespace
SHORT_BLOCK_WINDOW = 20  # good-til-block at most current + 20 for short-term orders
ATOMIC = {"BTC": -10, "ETH": -9, "SOL": -7}  # atomicResolution as on mainnet
QCE = -9  # quantumConversionExponent
IOC, FOK = 1, 3
FLAGS = (0, 32, 64)


def resolution(spec: MarketSpec) -> tuple[int, int]:
    return ATOMIC.get(spec.base, -6), QCE


def _quantum(spec: MarketSpec) -> Decimal:
    return Decimal(10) ** resolution(spec)[0]  # base units per quantum


def _subtick(spec: MarketSpec) -> Decimal:
    atomic, qce = resolution(spec)
    return Decimal(10) ** (qce - atomic - 6)  # quote per base unit per subtick


def step_quantums(spec: MarketSpec) -> int:
    return int(spec.amount_step / _quantum(spec))


def subticks_per_tick(spec: MarketSpec) -> int:
    return int(spec.price_tick / _subtick(spec))


def _answer(call: Call, tx_hash: str, code: int = 0, log: str = "[]", rule: str = "") -> Any:
    if code and call.rejections is not None:
        call.rejections.append(Rejection(VENUE, "create_order", rule, log, {"code": code}))
    return {
        "jsonrpc": "2.0",
        "id": -1,
        "result": {
            "code": code,
            "data": "",
            "log": log,
            "codespace": "clob" if code else "",
            "hash": tx_hash,
        },
    }


async def broadcast(venue: Dydx, call: Call) -> Any:
    raw = call.query.get("tx", "")
    tx_hash = hashlib.sha256(raw.encode()).hexdigest().upper()
    try:
        tx = decode_tx(raw)
    except TxError as error:
        answer = _answer(call, tx_hash, 2, f"tx parse error: {error}", "decode")
        answer["result"]["codespace"] = "sdk"
        return answer
    order = tx.order
    if len(tx.signatures) != 1 or len(tx.signatures[0]) != 64 or len(tx.public_key) != 33:
        answer = _answer(
            call,
            tx_hash,
            4,
            "signature verification failed; please verify "
            "account number, sequence and chain-id: unauthorized",
            "signature",
        )
        answer["result"]["codespace"] = "sdk"
        return answer
    account = call.book.account(VENUE, order.owner)
    if account is None:
        return _answer(call, tx_hash, 4, f"unknown subaccount owner {order.owner}", "unknown_user")
    specs = sorted(venue.specs(call).items())
    if order.clob_pair_id >= len(specs):
        return _answer(call, tx_hash, 8, "ClobPair ID does not reference a valid CLOB", "symbol")
    spec = specs[order.clob_pair_id][1]
    key = (order.owner, order.subaccount, order.client_id, order.order_flags, order.clob_pair_id)
    height = venue.height(call)
    if tx.type_url == CANCEL:
        return _answer(call, tx_hash)  # short-term orders are IOC here: nothing rests
    if tx.type_url != PLACE:
        return _answer(call, tx_hash, 12, f"venue lab: message {tx.type_url} not served", "type")
    problem = _validate_basic(order, spec, height)
    if problem:
        return _answer(call, tx_hash, *problem)
    if key in venue.placed and venue.placed[key] >= height:
        return _answer(
            call,
            tx_hash,
            30,
            "An order with the same `OrderId` and `OrderHash` has "
            "already been processed for this CLOB",
            "client_id_reused",
        )
    quantity = order.quantums * _quantum(spec)
    price = order.subticks * _subtick(spec)
    # every subaccount is its own margin pool: the order reduces only what ITS subaccount holds
    # (0: the cross positions; 128 + i: the i-th isolated position) [DY-docs
    # isolated-positions.md; venues.md §2.1]
    held = venue.held(call, account, order.subaccount, spec.symbol)
    sell = order.side == 2
    if order.reduce_only:
        bad = rules.reduce_only(held, sell, quantity, oversize_allowed=True)
        if bad:  # 2001; an oversized RO order is clipped to the position (DY-docs types/order)
            return _answer(
                call,
                tx_hash,
                2001,
                "Reduce-only orders cannot increase the position size",
                bad.rule,
            )
    elif held == 0 or (held > 0) != sell or quantity > abs(held):
        return _answer(
            call,
            tx_hash,
            12,
            "venue lab: opening or increasing a position is not simulated",
            "lab_opening",
        )
    venue.placed[key] = order.good_til_block
    venue.order_subaccounts[(account.paper, str(order.client_id))] = order.subaccount
    await call.book.execute(
        VENUE,
        account,
        client_id=str(order.client_id),
        symbol=spec.symbol,
        side=OrderSide.SELL if sell else OrderSide.BUY,
        quantity=quantity,
        price=price,
        order_type="limit",
        time_in_force="IOC" if order.time_in_force == IOC else "FOK",
        reduce_only=order.reduce_only,
        position_side="BOTH",
        step=spec.amount_step,
    )
    return _answer(call, tx_hash)


def _validate_basic(order: Any, spec: MarketSpec, height: int) -> tuple[int, str, str] | None:
    """MsgPlaceOrder.ValidateBasic and the short-term CheckTx window, in the chain's order."""
    if order.side not in (1, 2):
        return 3, "Invalid order side", "mandatory"
    if order.quantums == 0:
        return 4, "Invalid order quantums", "size_positive"
    if order.subticks == 0:
        return 6, "Invalid order subticks", "tick"
    if order.order_flags not in FLAGS:
        return 3000, "Invalid order flags", "mandatory"
    if order.reduce_only and order.time_in_force not in (IOC, FOK):
        return 9003, "Reduce-only is currently disabled for non-IOC orders", "reduce_only_tif"
    if order.order_flags == 0:
        if order.good_til_block == 0:
            return 5, "Invalid order goodTilBlock", "good_til_block"
        if order.good_til_block < height + 1:
            return (
                10,
                "The next block height is greater than the GoodTilBlock of the message",
                ("good_til_block"),
            )
        if order.good_til_block > height + 1 + SHORT_BLOCK_WINDOW:
            return (
                11,
                (
                    "The GoodTilBlock of the message is further than ShortBlockWindow blocks "
                    "into the future"
                ),
                "good_til_block",
            )
    elif order.order_flags == 64 and order.time_in_force in (IOC, FOK):
        return 3002, "Stateful orders cannot require immediate execution", "time_in_force"
    if order.quantums % step_quantums(spec):
        return (
            12,
            (
                f"Order Quantums {order.quantums} must be a multiple of the ClobPair's "
                f"StepBaseQuantums {step_quantums(spec)}"
            ),
            "step",
        )
    if order.subticks % subticks_per_tick(spec):
        return (
            12,
            (
                f"Order subticks {order.subticks} must be a multiple of the ClobPair's "
                f"SubticksPerTick {subticks_per_tick(spec)}"
            ),
            "tick",
        )
    return None


# ----- the indexer's orders -----------------------------------------------------------------


def subaccount_uuid(address: str, number: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{address}-{number}"))


def order_uuid(address: str, number: int, client_id: int, clob: int, flags: int) -> str:
    """The indexer's order id (uuid5 of the subaccount uuid and the order id's parts)."""
    prefix = subaccount_uuid(address, number)
    return str(uuid.uuid5(NAMESPACE, f"{prefix}-{client_id}-{clob}-{flags}"))


def orders(venue: Dydx, call: Call, path: str) -> Any:
    specs = sorted(venue.specs(call).items())
    index = {spec.symbol: (n, ticker) for n, (ticker, spec) in enumerate(specs)}
    rows: list[dict[str, Any]] = []
    for account in (a for a in call.book.accounts if a.venue == VENUE):
        for order in call.book.all_orders(VENUE, account.paper):
            clob, ticker = index[order.symbol]
            status = (
                "FILLED"
                if order.status is OrderStatus.FILLED
                else ("OPEN" if order.open else "CANCELED")
            )
            number = venue.order_subaccounts.get((account.paper, order.client_id), 0)
            rows.append(
                {
                    "id": order_uuid(account.key, number, int(order.client_id), clob, 0),
                    "subaccountId": "",
                    "clientId": order.client_id,
                    "clobPairId": str(clob),
                    "side": order.side.value.upper(),
                    "size": fmt(order.quantity),
                    "totalFilled": fmt(order.filled),
                    "price": fmt(order.price or Decimal(0)),
                    "type": "LIMIT",
                    "status": status,
                    "timeInForce": order.time_in_force,
                    "reduceOnly": order.reduce_only,
                    "orderFlags": "0",
                    "goodTilBlock": str(venue.height(call) + SHORT_BLOCK_WINDOW),
                    "createdAtHeight": str(venue.height(call)),
                    "clientMetadata": "1",
                    "updatedAt": order.updated.isoformat().replace("+00:00", "Z"),
                    "updatedAtHeight": str(venue.height(call)),
                    "postOnly": False,
                    "ticker": ticker,
                    "subaccountNumber": number,
                    "address": account.key,
                }
            )
    found = re.fullmatch(r"/v4/orders/([0-9a-f-]{36})", path)
    if found:
        for row in rows:
            if row["id"] == found.group(1):
                return {k: v for k, v in row.items() if k != "address"}
        raise Rejected(404, {"errors": [{"msg": f"No order with id {found.group(1)}"}]})
    wanted = {k: call.query.get(k) for k in ("address", "ticker", "status")}
    # /v4/orders?subaccountNumber=n: that subaccount's orders; /v4/orders/parentSubaccountNumber
    # ?parentSubaccountNumber=p: the parent's and its children's (n % 128 == p) [DY indexer API]
    parent = path == "/v4/orders/parentSubaccountNumber"
    asked = call.query.get("parentSubaccountNumber" if parent else "subaccountNumber")
    chosen = [
        {k: v for k, v in r.items() if k != "address"}
        for r in rows
        if r["address"] == wanted["address"]
        and wanted["ticker"] in (None, r["ticker"])
        and wanted["status"] in (None, r["status"])
        and (
            asked is None
            or (r["subaccountNumber"] % 128 if parent else r["subaccountNumber"]) == int(asked)
        )
    ]
    return chosen[-int(call.query.get("limit") or 100) :][::-1]
