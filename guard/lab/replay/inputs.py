"""Command-line inputs of a replay turned into a ReplaySetup: candle and funding files paired with
symbols (explicit --symbol, in order, or read from the file names), the portfolio and its venue.
Where every candle file has its mark-price twin beside it (as `guard history download` writes
them), the replay's path is the mark; otherwise the last-trade candles stand in for it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from guard.gateway.paper.data import (
    Candle,
    DataError,
    FundingSeries,
    load_candles,
    load_funding,
    symbol_from_filename,
    unified_symbol,
)
from guard.lab.replay.history import mark_candles_path
from guard.lab.replay.portfolio import load_portfolio, rules_for
from guard.lab.replay.setup import ReplaySetup, from_candles


def pair_symbols(
    files: Sequence[Path], symbols: Sequence[str], what: str
) -> list[tuple[str, Path]]:
    """The i-th symbol names the i-th file; with no symbols (or fewer), the file name decides;
    a single symbol with several files is an error (say which file is which)."""
    if len(symbols) > len(files):
        raise ValueError(
            f"{len(symbols)} --symbol value(s) for {len(files)} {what} file(s): give one "
            f"--symbol per {what} file, in the same order"
        )
    paired: list[tuple[str, Path]] = []
    for index, path in enumerate(files):
        if index < len(symbols):
            paired.append((unified_symbol(symbols[index]), path))
        else:
            paired.append((symbol_from_filename(path), path))
    return paired


def load_setup(
    candle_files: Sequence[Path],
    funding_files: Sequence[Path],
    symbols: Sequence[str],
    portfolio_file: Path,
) -> ReplaySetup:
    """Load and check every input; raises DataError, ConfigError or ValueError with the reason."""
    if not candle_files:
        raise ValueError("give at least one --candles file (or --scenario NAME)")
    portfolio = load_portfolio(portfolio_file)
    candles: dict[str, tuple[Candle, ...]] = {}
    paired = pair_symbols(candle_files, symbols, "--candles")
    twins = [mark_candles_path(path) for _, path in paired]
    marked = all(
        twin.is_file() and twin != path for twin, (_, path) in zip(twins, paired, strict=True)
    )
    for (symbol, path), twin in zip(paired, twins, strict=True):
        if symbol in candles:
            raise DataError(path, None, "", f"a second candles file for {symbol}")
        candles[symbol] = load_candles(twin if marked else path)
    funding: dict[str, FundingSeries] = {}
    for symbol, path in pair_symbols(funding_files, symbols, "--funding"):
        if symbol in funding:
            raise DataError(path, None, "", f"a second funding file for {symbol}")
        funding[symbol] = load_funding(path)
    name = ", ".join(path.name for path in candle_files)
    price = "mark" if marked else "last-trade"
    return from_candles(name, portfolio, candles, funding, rules_for(portfolio.venue), price)
