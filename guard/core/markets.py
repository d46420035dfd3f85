"""A market as a trader writes it (`SOL`, `solusdt`, `SOL-USDT-SWAP`, `SOL/USDT:USDT`) resolved to
exactly one unified symbol of a known list, or refused with the list. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s/:_\-]+")
_SUFFIXES = ("PERPETUAL", "PERP", "SWAP")


@dataclass(frozen=True, slots=True)
class MarketRefused:
    """Why a written market matches no single known market; `message` is for the operator."""

    written: str
    candidates: tuple[str, ...]
    known: tuple[str, ...]

    @property
    def message(self) -> str:
        if self.candidates:
            return (
                f"market {self.written!r} is ambiguous: it could be "
                f"{', '.join(self.candidates)}; write one of them in full"
            )
        listed = ", ".join(self.known) if self.known else "none seen yet"
        return f"market {self.written!r} matches no known market (known: {listed})"


def _parts(symbol: str) -> tuple[str, str, str]:
    """(base, quote, settle) of a unified symbol such as BTC/USDT:USDT."""
    pair, _, settle = symbol.upper().partition(":")
    base, _, quote = pair.partition("/")
    return base, quote, settle


def _compact(written: str) -> str:
    text = written.strip().upper()
    for suffix in _SUFFIXES:
        stripped = _SEPARATORS.sub("", text)
        if stripped.endswith(suffix) and len(stripped) > len(suffix):
            text = stripped[: -len(suffix)]
    return _SEPARATORS.sub("", text)


def _spellings(symbol: str) -> set[str]:
    base, quote, settle = _parts(symbol)
    return {
        base,
        base + quote,
        base + settle,
        base + quote + settle,
        _SEPARATORS.sub("", symbol.upper()),
    }


def resolve_market(written: str, known: Iterable[str]) -> str | MarketRefused:
    """The one known unified symbol `written` names, or why there is none."""
    markets = tuple(sorted(set(known)))
    exact = [m for m in markets if m.upper() == written.strip().upper()]
    if len(exact) == 1:
        return exact[0]
    compact = _compact(written)
    found = tuple(m for m in markets if compact and compact in _spellings(m))
    if len(found) == 1:
        return found[0]
    return MarketRefused(written, found, markets)
