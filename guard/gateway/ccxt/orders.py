"""Order placement, lookup and cancel by client id through ccxt, completing CcxtGateway. Invariant:
creation is sent once, never retried; a timeout is an unknown outcome, resolved by client id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from ccxt.base import errors as ccxt_errors

from guard.core.domain import ZERO, AccountSnapshot, MarketSpec, OrderPlan, OrderResult
from guard.gateway.base import OrderRejected
from guard.gateway.ccxt.budget import PRIORITY, PRIORITY_PROTECTIVE
from guard.gateway.ccxt.candles import CcxtCandleReader
from guard.gateway.ccxt.clients import AccountConfig, GatewaySettings
from guard.gateway.ccxt.snapshots import CcxtSnapshotReader
from guard.gateway.ccxt.structures import dec, order_result
from guard.gateway.ordermap import CcxtOrder, OrderMappingError, map_order


class CcxtGateway(CcxtSnapshotReader, CcxtCandleReader):
    """A Gateway for one or more accounts of one venue through ccxt (one client per account)."""

    async def _spec(self, plan: OrderPlan) -> MarketSpec:
        spec = self._specs.get(plan.account, {}).get(plan.symbol)
        if spec is None:
            snapshot = await self.fetch_snapshot(plan.account)
            spec = snapshot.markets.get(plan.symbol)
        if spec is None:
            raise OrderRejected(f"{self.venue}: no market spec for {plan.symbol}")
        return spec

    def order_request(self, plan: OrderPlan, spec: MarketSpec) -> CcxtOrder:
        """The ccxt create_order arguments of `plan` (OrderRejected if it cannot be sent)."""
        try:
            return map_order(
                self.venue,
                plan,
                spec,
                reference_price=self._marks.get(plan.account, {}).get(plan.symbol),
            )
        except OrderMappingError as error:
            raise OrderRejected(f"{self.venue} {plan.symbol}: {error}") from error

    async def fetch_position(self, account: str, symbol: str) -> AccountSnapshot:
        """The executor's re-read right before a send, as protective work in the venue's budget
        (it goes before routine reads: a woken tick's order waits for no other account's poll)."""
        token = PRIORITY.set(PRIORITY_PROTECTIVE)
        try:
            return await super().fetch_position(account, symbol)
        finally:
            PRIORITY.reset(token)

    async def create_order(self, plan: OrderPlan) -> OrderResult:
        spec = await self._spec(plan)
        order = self.order_request(plan, spec)
        client = await self._ready(plan.account)
        params = dict(order.params)
        if self.venue == "dydx":  # sent from the subaccount holding the position (children >= 128)
            params["subAccountId"] = self._subaccounts.get(plan.account, {}).get(plan.symbol, 0)
        number = self._sends.get(plan.account, 0) + 1  # `_write` counts it before any await
        created = await self._write(
            "create_order",
            lambda: client.create_order(
                order.symbol, order.type, order.side, order.amount, order.price, params
            ),
            plan.account,
        )
        if self.venue == "hyperliquid":
            self._note_fill(plan, number, created)
        sent = Decimal(order.amount) * self._ccxt_unit(spec)
        return order_result(created, plan.client_order_id, self._ccxt_unit(spec), requested=sent)

    def _note_fill(self, plan: OrderPlan, number: int, created: Any) -> None:
        """Hyperliquid: a reduce-only order whose answer is `{"filled": {"totalSz": ...}}` (the
        exchange endpoint's documented status of an order that filled; an IOC's unfilled rest is
        cancelled, never rests) has reduced `plan.key` by exactly that size; any other answer
        (resting, error, no answer) leaves the send's effect unknown: the next slice re-reads."""
        info = created.get("info") if isinstance(created, Mapping) else None
        filled = info.get("filled") if isinstance(info, Mapping) else None
        size = dec(filled.get("totalSz")) if isinstance(filled, Mapping) else None
        if plan.reduce_only and size is not None and size >= ZERO:
            self._own_fills.setdefault(plan.account, {})[number] = (plan.key, size)

    def _ccxt_unit(self, spec: MarketSpec | None) -> Decimal:
        if self.spec.amounts_in_contracts and spec is not None:
            return spec.contract_size
        return Decimal(1)

    async def fetch_order(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        client = await self._ready(account)
        unit = self._ccxt_unit(self._specs.get(account, {}).get(symbol))

        async def lookup() -> Any:
            try:
                found = await self._find_order(client, symbol, client_order_id)
            except ccxt_errors.OrderNotFound:
                return None
            if found is None or (found.get("id") is None and found.get("status") is None):
                return None  # e.g. Hyperliquid's {"status": "unknownOid"} parses to an empty order
            return found

        found = await self._read("fetch_order", lookup, priority=PRIORITY_PROTECTIVE)
        return None if found is None else order_result(found, client_order_id, unit)

    async def _find_order(self, client: Any, symbol: str, cid: str) -> Any:
        if self.venue == "binance":
            return await client.fetch_order("", symbol, {"origClientOrderId": cid})
        if self.venue == "okx":
            return await client.fetch_order("", symbol, {"clOrdId": cid})
        if self.venue == "hyperliquid":
            return await client.fetch_order("", symbol, {"clientOrderId": cid})
        if self.venue == "bybit":
            market = client.market(symbol)
            for endpoint in (client.privateGetV5OrderRealtime, client.privateGetV5OrderHistory):
                response = await endpoint(
                    {"category": "linear", "symbol": market["id"], "orderLinkId": cid}
                )
                rows = (response.get("result") or {}).get("list") or []
                if rows:
                    return client.parse_order(rows[0], market)
            return None
        # dydx: the indexer is searched by the numeric client id over subaccount 0 and all its
        # children (an isolated position's orders live in its child subaccount)
        orders = await self._dydx_orders(client, symbol)
        for order in orders:
            if str(order.get("clientOrderId")) == cid:
                return order
        return None

    async def _dydx_orders(self, client: Any, symbol: str | None, **query: str) -> list[Any]:
        """Orders of parent subaccount 0 and its children (`/v4/orders/parentSubaccountNumber`)."""
        market = client.market(symbol) if symbol else None
        request = {"address": self._wallet(client), "parentSubaccountNumber": 0, **query}
        if market is not None:
            request["ticker"] = market["id"]
        rows = await client.indexerGetOrdersParentSubaccountNumber(request)
        return list(client.parse_orders(rows, market))

    async def fetch_open_orders(self, account: str) -> list[OrderResult]:
        client = await self._ready(account)
        if self.venue == "dydx":
            orders = await self._read(
                "fetch_open_orders", lambda: self._dydx_orders(client, None, status="OPEN")
            )
        else:
            orders = await self._read("fetch_open_orders", lambda: client.fetch_open_orders())
        results = []
        for order in orders:
            spec = self._specs.get(account, {}).get(order.get("symbol", ""))
            cid = str(order.get("clientOrderId") or order.get("id"))
            results.append(order_result(order, cid, self._ccxt_unit(spec)))
        return results

    async def cancel_order(self, account: str, symbol: str, client_order_id: str) -> OrderResult:
        """Cancel by client id; an order the venue no longer has open is reported as it ended."""
        if self.venue == "dydx":
            # the guard's dYdX orders are short-term IOC: they never rest, and expire on chain
            # within 20 blocks; a cancel has nothing to act on, so report the order as it is
            found = await self.fetch_order(account, symbol, client_order_id)
            if found is None:
                raise OrderRejected(
                    f"dydx cancel {client_order_id}: unknown to the indexer (short-term orders "
                    "expire by block height)"
                )
            return found
        client = await self._ready(account)
        params: dict[str, Any] = {
            "binance": {"origClientOrderId": client_order_id},
            "bybit": {"orderLinkId": client_order_id},
            "okx": {"clOrdId": client_order_id},
            "hyperliquid": {"clientOrderId": client_order_id},
        }[self.venue]
        unit = self._ccxt_unit(self._specs.get(account, {}).get(symbol))
        try:
            cancelled = await self._write(
                "cancel_order", lambda: client.cancel_order("", symbol, dict(params)), account
            )
        except OrderRejected as error:
            if not isinstance(error.__cause__, ccxt_errors.OrderNotFound):
                raise
            found = await self.fetch_order(account, symbol, client_order_id)
            if found is None:
                raise
            return replace(found, message=f"not open any more: {found.status.value}")
        return order_result(cancelled, client_order_id, unit)


def build_gateways(
    accounts: Sequence[AccountConfig], settings: GatewaySettings | None = None
) -> dict[str, CcxtGateway]:
    """One gateway per venue holding all of that venue's accounts (shared markets and data)."""
    by_venue: dict[str, list[AccountConfig]] = {}
    for account in accounts:
        by_venue.setdefault(account.venue, []).append(account)
    return {
        venue: CcxtGateway(venue, group, settings=settings) for venue, group in by_venue.items()
    }
