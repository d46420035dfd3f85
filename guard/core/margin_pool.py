"""The cross pool's terms held constant while one position's price moves (the wallet, and per
(symbol, side) the other cross positions' summed PnL and maintenance), in O(n); pure, exact
Decimal: the same digits as summing the others left to right (see _sums_without)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, Rounded, localcontext

from guard.core.domain import ZERO, AccountSnapshot, MarginMode, Position, Side
from guard.core.venues.base import maintenance_margin

_Key = tuple[str, Side]  # (symbol, side): a PositionKey as a plain tuple


@dataclass(frozen=True, slots=True)
class CrossPool:
    """What the cross pool holds constant while one position key's price moves: the wallet, and
    per (symbol, side) the other cross positions' summed unrealized PnL and maintenance."""

    wallet: Decimal
    others: dict[_Key, tuple[Decimal, Decimal]]  # key -> (other PnL, other mm)

    @staticmethod
    def of(snapshot: AccountSnapshot) -> CrossPool:
        cross = [p for p in snapshot.positions if p.margin_mode is MarginMode.CROSS]
        return CrossPool.from_terms(
            snapshot.balance.wallet_balance,
            [(p.symbol, p.side) for p in cross],
            [p.unrealized_pnl for p in cross],
            [maintenance_margin(p, snapshot.market(p.symbol)) for p in cross],
        )

    @staticmethod
    def from_terms(
        wallet: Decimal, keys: list[_Key], pnls: list[Decimal], mms: list[Decimal]
    ) -> CrossPool:
        """The pool from each cross position's key, unrealized PnL and maintenance, in order."""
        other_pnls = _sums_without(keys, pnls)
        other_mms = _sums_without(keys, mms)
        return CrossPool(wallet, {key: (other_pnls[key], other_mms[key]) for key in other_pnls})


def cross_fixed(position: Position, pool: CrossPool) -> Decimal:
    """Wallet + the other cross positions' PnL − their maintenance (the part held constant)."""
    other_pnl, other_mm = pool.others[(position.symbol, position.side)]
    return pool.wallet + other_pnl - other_mm


# up to this many values the sums are taken directly (measured: below ~12 values the direct
# O(n²) sums cost less than the O(n) path's exactness check, ranking and quantizing)
DIRECT_UP_TO = 8


def _sums_without(keys: list[_Key], values: list[Decimal]) -> dict[_Key, Decimal]:
    """Per distinct key: ZERO + the values of every other key, left to right (directly for a
    few values, else see _sums_linear)."""
    if len(values) <= DIRECT_UP_TO:
        return _sums_direct(keys, values)
    return _sums_linear(keys, values)


def _sums_direct(keys: list[_Key], values: list[Decimal]) -> dict[_Key, Decimal]:
    """The definition: per distinct key, ZERO + every other key's values, left to right; O(n²)."""
    return {
        key: _sum(v for k, v in zip(keys, values, strict=True) if k != key)
        for key in dict.fromkeys(keys)
    }


def _sums_linear(keys: list[_Key], values: list[Decimal]) -> dict[_Key, Decimal]:
    """_sums_direct's result, in O(n) when no partial sum can round: the total minus the key's own
    values, quantized to the exponent the left-to-right sum has (the finest of 0 and the
    others'), hence the same Decimal; else _sums_direct.

    Exact sums take the finest exponent of their terms, so the total has the finest of all and
    each key's own sum the finest of its values (and 0): total − own already has the exponent
    of the left-to-right sum unless the key alone holds the finest one (then it is quantized to
    the finest of the others)."""
    if not _sums_exactly(values):
        return _sums_direct(keys, values)
    own: dict[_Key, Decimal] = {}
    mine = own.get
    for key, value in zip(keys, values, strict=True):
        own[key] = mine(key, ZERO) + value
    if not own:
        return {}
    total = _sum(values)
    finest = [key for key, value in own.items() if value.same_quantum(total)]
    if len(finest) != 1:  # two keys or more hold the finest exponent: no key is alone with it
        return {key: total - value for key, value in own.items()}
    alone = finest[0]
    others = [int(value.as_tuple().exponent) for key, value in own.items() if key != alone]
    quantum = Decimal((0, (1,), min(others, default=0)))
    return {
        key: (total - value).quantize(quantum) if key == alone else total - value
        for key, value in own.items()
    }


def _sums_exactly(values: list[Decimal]) -> bool:
    """True when the current context adds up any subset of `values` from ZERO, in any order,
    without rounding: it adds up their magnitudes without rounding, and no such sum is larger."""
    with localcontext() as context:
        context.clear_flags()
        magnitude = _sum(abs(value) for value in values)
        return magnitude.is_finite() and not context.flags[Rounded]


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, ZERO)
