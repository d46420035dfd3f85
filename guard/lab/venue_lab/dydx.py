"""dYdX v4 in the venue lab: the indexer REST endpoints ccxt reads (markets, subaccounts with
their child subaccounts, positions, order book, orders, height) and the node's account query,
abci_info and broadcast_tx_sync, where the signed transaction is decoded as the chain reads it
and checked as its ValidateBasic and CheckTx would. Isolated positions live in child subaccounts
(128 + n), as on the chain. Not pure (the shared book). Sources: venues.md §2 ([DY-chain]
x/clob/types/{message_place_order.go,order.go,errors.go}, [DY-docs] orders, isolated-positions)."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from guard.core.domain import MarginMode, MarketSpec
from guard.lab.venue_lab import dydx_chain as chain
from guard.lab.venue_lab import funding_history as funding
from guard.lab.venue_lab.book import LabAccount
from guard.lab.venue_lab.server import Call, Rejected
from guard.lab.venue_lab.views import account_view, fmt

VENUE = "dydx"
ADDRESS = r"dydx1[02-9ac-hj-np-z]{38}"


class Dydx:
    """The dYdX v4 indexer and node surface of the lab."""

    name = VENUE

    def __init__(self) -> None:
        self.placed: dict[tuple[str, int, int, int, int], int] = {}  # order id -> good til block
        # (paper account, client id) -> the subaccount that sent the order
        self.children: dict[str, dict[str, int]] = {}  # paper account -> symbol -> child number
        self.order_subaccounts: dict[tuple[str, str], int] = {}

    def operation(self, call: Call) -> tuple[str, int]:
        if call.path.startswith("/broadcast_tx"):
            return "create_order", 1
        if call.path.startswith("/v4/orders"):
            return "fetch_order", 1
        if call.path.startswith("/v4/perpetualPositions"):
            return "positions", 1
        if call.path.startswith("/v4/addresses"):
            return "account", 1
        return ("markets" if call.path == "/v4/perpetualMarkets" else call.path), 1

    async def handle(self, call: Call) -> Any:
        path = call.path
        if path == "/v4/perpetualMarkets":
            return {"markets": self.markets(call)}
        if path == "/v4/height":
            return {"height": str(self.height(call)), "time": call.book.now().isoformat()}
        if path.startswith("/v4/orderbooks/perpetualMarket/"):
            return self.orderbook(call, path.rsplit("/", 1)[-1])
        if path == "/abci_info":
            return {
                "jsonrpc": "2.0",
                "id": -1,
                "result": {
                    "response": {
                        "data": "dydxprotocol",
                        "version": "lab",
                        "last_block_height": str(self.height(call)),
                        "last_block_app_hash": "",
                    }
                },
            }
        if path.startswith("/cosmos/auth/v1beta1/account_info/"):
            return self.account_info(call, path.rsplit("/", 1)[-1])
        if path in ("/broadcast_tx_sync", "/broadcast_tx_async"):
            return await chain.broadcast(self, call)
        found = re.fullmatch(
            rf"/v4/addresses/({ADDRESS})(?:/(subaccountNumber|"
            r"parentSubaccountNumber)/(\d+))?",
            path,
        )
        if found:
            account = self.account(call, found.group(1))
            if found.group(2) is None:
                return {
                    "subaccounts": [
                        self.subaccount(call, account, n) for n in self.numbers(call, account)
                    ],
                    "totalTradingRewards": "0",
                }
            number = int(found.group(3))
            if found.group(2) == "parentSubaccountNumber":
                return {"subaccount": self.parent(call, account, number)}
            return {"subaccount": self.subaccount(call, account, number)}
        if path == "/v4/perpetualPositions":
            account = self.account(call, call.query.get("address", ""))
            number = int(call.query.get("subaccountNumber") or 0)
            rows = list(self.positions(call, account, number).values())
            return {"positions": rows}
        if path.startswith("/v4/orders"):
            return chain.orders(self, call, path)
        if path in ("/v4/fundingPayments", "/v4/fundingPayments/parentSubaccount"):
            account = self.account(call, call.query.get("address", ""))
            owned = self.children.get(account.paper, {})
            return funding.dydx_funding_payments(call, account, owned)
        raise Rejected(404, {"errors": [{"msg": f"venue lab: {path} is not served"}]})

    # ----- markets --------------------------------------------------------------------------
    def specs(self, call: Call) -> dict[str, MarketSpec]:
        return {f"{s.base}-USD": s for s in call.book.paper.markets.values()}

    def height(self, call: Call) -> int:
        elapsed = call.book.now() - call.book.paper.path.start
        return 40_000_000 + int(elapsed.total_seconds())  # one block a second

    def markets(self, call: Call) -> dict[str, Any]:
        rows = {}
        for index, (ticker, spec) in enumerate(sorted(self.specs(call).items())):
            atomic, qce = chain.resolution(spec)
            tier = spec.tiers[0] if spec.tiers else None
            imf = 1 / tier.max_leverage if tier and tier.max_leverage else Decimal("0.05")
            mark = self.mark(call, spec.symbol)
            rate, _ = call.book.paper._funding_now(spec.symbol)
            rows[ticker] = {
                "clobPairId": str(index),
                "ticker": ticker,
                "status": "ACTIVE",
                "oraclePrice": fmt(mark),
                "priceChange24H": "0",
                "volume24H": "0",
                "trades24H": 0,
                "nextFundingRate": fmt(rate or Decimal(0)),
                "initialMarginFraction": fmt(imf),
                "maintenanceMarginFraction": fmt(tier.maintenance_rate if tier else imf / 2),
                "openInterest": "1000",
                "atomicResolution": atomic,
                "quantumConversionExponent": qce,
                "tickSize": fmt(spec.price_tick),
                "stepSize": fmt(spec.amount_step),
                "stepBaseQuantums": chain.step_quantums(spec),
                "subticksPerTick": chain.subticks_per_tick(spec),
                "marketType": "CROSS",
                "openInterestLowerCap": "0",
                "openInterestUpperCap": "0",
                "baseOpenInterest": "1000",
                "defaultFundingRate1H": "0",
            }
        return rows

    def mark(self, call: Call, symbol: str) -> Decimal:
        moment = call.book.paper.now - timedelta(milliseconds=call.stale_ms)
        return call.book.paper.path.price(symbol, moment)

    def orderbook(self, call: Call, ticker: str) -> Any:
        spec = self.specs(call).get(ticker)
        if spec is None:
            raise Rejected(404, {"errors": [{"msg": f"market {ticker} not found"}]})
        mark, half = self.mark(call, spec.symbol), call.book.paper.slippage.half_spread
        tick = spec.price_tick
        bids = [
            {
                "price": fmt((mark * (1 - half * (1 + n)) / tick).to_integral_value() * tick),
                "size": fmt(spec.amount_step * 1000),
            }
            for n in range(5)
        ]
        asks = [
            {
                "price": fmt((mark * (1 + half * (1 + n)) / tick).to_integral_value() * tick),
                "size": fmt(spec.amount_step * 1000),
            }
            for n in range(5)
        ]
        return {"bids": bids, "asks": asks}

    # ----- accounts -------------------------------------------------------------------------
    def account(self, call: Call, address: str) -> LabAccount:
        found = call.book.account(VENUE, address) if re.fullmatch(ADDRESS, address) else None
        if found is None:
            raise Rejected(
                404,
                {"errors": [{"msg": f"No subaccount found with address {address}"}]},
                "unknown_user",
                address,
            )
        return found

    def account_info(self, call: Call, address: str) -> Any:
        account = self.account(call, address)
        key = (
            account.secret
            or base64.b64encode(b"\x02" + hashlib.sha256(address.encode()).digest()).decode()
        )
        return {
            "info": {
                "address": address,
                "pub_key": {"type_url": "/cosmos.crypto.secp256k1.PubKey", "key": key},
                "account_number": "7",
                "sequence": "0",
            }
        }

    def numbers(self, call: Call, account: LabAccount) -> list[int]:
        """Subaccount 0 (cross) and one child per isolated position, as the frontend opens them
        (venues.md §2.1): 128, 129, … in the order the positions are first seen, each kept for
        its market (a child does not renumber when another isolated position closes)."""
        view = account_view(call.book, account.paper)
        return [0, *sorted(self._child(account, p.symbol) for p in view.isolated)]

    def _child(self, account: LabAccount, symbol: str) -> int:
        owned = self.children.setdefault(account.paper, {})
        if symbol not in owned:
            owned[symbol] = 128 + len(owned)
        return owned[symbol]

    def pool(self, call: Call, account: LabAccount, number: int) -> tuple[Any, ...]:
        """The positions subaccount `number` holds: 0 the cross ones, a child its isolated one."""
        view = account_view(call.book, account.paper)
        if number == 0:
            return tuple(view.cross)
        return tuple(p for p in view.isolated if self._child(account, p.symbol) == number)

    def held(self, call: Call, account: LabAccount, number: int, symbol: str) -> Decimal:
        """The signed size of `symbol` held in subaccount `number` (0 when it holds none)."""
        pool = self.pool(call, account, number)
        return sum((p.signed for p in pool if p.symbol == symbol), Decimal(0))

    def positions(self, call: Call, account: LabAccount, number: int) -> dict[str, Any]:
        chosen = self.pool(call, account, number)
        rows = {}
        for p in chosen:
            size = -p.signed if call.contradictory else p.signed
            rows[f"{p.spec.base}-USD"] = {
                "market": f"{p.spec.base}-USD",
                "status": "OPEN",
                "side": "LONG" if p.signed > 0 else "SHORT",
                "size": fmt(size),
                "maxSize": fmt(p.signed),
                "entryPrice": fmt(p.entry_price),
                "exitPrice": None,
                "realizedPnl": "0",
                "unrealizedPnl": fmt(p.upnl),
                "createdAt": "2024-08-05T00:00:00.000Z",
                "createdAtHeight": "40000000",
                "closedAt": None,
                "sumOpen": fmt(p.quantity),
                "sumClose": "0",
                "netFunding": fmt(-p.funding_paid),
                "subaccountNumber": number,
            }
        return rows

    def subaccount(self, call: Call, account: LabAccount, number: int) -> dict[str, Any]:
        view = account_view(call.book, account.paper)
        held = self.pool(call, account, number)
        if number == 0:
            equity = view.wallet + view.cross_upnl
        elif held:
            equity = held[0].isolated_margin + held[0].upnl
        else:
            raise Rejected(
                404,
                {
                    "errors": [
                        {
                            "msg": f"No subaccount found with address "
                            f"{account.key} and subaccountNumber {number}"
                        }
                    ]
                },
            )
        quote = equity - sum((p.signed * p.mark for p in held), Decimal(0))
        initial = sum((p.initial_margin for p in held), Decimal(0))
        return {
            "address": account.key,
            "subaccountNumber": number,
            "equity": fmt(equity),
            "freeCollateral": fmt(equity - initial),
            "openPerpetualPositions": self.positions(call, account, number),
            "assetPositions": {
                "USDC": {
                    "size": fmt(abs(quote)),
                    "symbol": "USDC",
                    "side": "LONG" if quote >= 0 else "SHORT",
                    "assetId": "0",
                    "subaccountNumber": number,
                }
            },
            "marginEnabled": True,
            "updatedAtHeight": str(self.height(call)),
            "latestProcessedBlockHeight": str(self.height(call)),
        }

    def parent(self, call: Call, account: LabAccount, number: int) -> dict[str, Any]:
        children = [
            self.subaccount(call, account, n)
            for n in self.numbers(call, account)
            if n % 128 == number
        ]
        equity = sum((Decimal(c["equity"]) for c in children), Decimal(0))
        free = sum((Decimal(c["freeCollateral"]) for c in children), Decimal(0))
        positions: dict[str, Any] = {}
        for child in children:
            positions.update(child["openPerpetualPositions"])
        return {
            "address": account.key,
            "parentSubaccountNumber": number,
            "equity": fmt(equity),
            "freeCollateral": fmt(free),
            "childSubaccounts": children,
            "openPerpetualPositions": positions,
        }


__all__ = ["Dydx", "MarginMode"]
