"""Download candles (last-trade, and mark-price where the venue offers them) and funding history
through a ccxt exchange object into the replay CSV formats, page by page, pausing between requests
and backing off on rate limits."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from guard.gateway.paper.data import CANDLE_COLUMNS, FUNDING_COLUMNS

Sleep = Callable[[float], Awaitable[None]]
RETRYABLE = frozenset(
    {
        "RateLimitExceeded",
        "DDoSProtection",
        "RequestTimeout",
        "NetworkError",
        "ExchangeNotAvailable",
    }
)
_TIMEFRAME = re.compile(r"^(\d+)([smhdw])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


class HistoryError(RuntimeError):
    """The download could not be completed; the message says which request and why."""


@dataclass(frozen=True, slots=True)
class Download:
    """What one download wrote."""

    candles_path: Path
    funding_path: Path
    candles: int
    funding: int
    requests: int
    mark_path: Path | None = None  # mark-price candles, where the venue offers them
    mark_candles: int = 0


def mark_candles_path(candles: Path) -> Path:
    """Where the mark-price twin of a last-trade candle file is written (and looked for):
    binance_BTCUSDT_1h_2024-08-01_2024-08-11.csv -> binance_BTCUSDT_1h_mark_2024-08-01_....csv."""
    parts = candles.stem.split("_")
    stamp = next((i for i, p in enumerate(parts) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p)), None)
    if stamp is None:
        return candles.with_name(f"{candles.stem}_mark{candles.suffix}")
    return candles.with_name("_".join([*parts[:stamp], "mark", *parts[stamp:]]) + candles.suffix)


def timeframe_ms(timeframe: str) -> int:
    match = _TIMEFRAME.match(timeframe.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"a timeframe looks like 1m, 5m, 1h or 1d, got {timeframe!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone; history times are UTC")
    return int(moment.timestamp() * 1000)


def parse_time(raw: str) -> datetime:
    """'2024-08-01', '2024-08-01T12:30', an ISO time with offset, or epoch milliseconds (UTC)."""
    text = raw.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"a time looks like 2024-08-01, 2024-08-01T12:30 (UTC) or epoch ms, got {raw!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def plain(value: Any, what: str) -> str:
    """A ccxt number (float, int or string) as a plain decimal string."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise HistoryError(f"{what}: not a number: {value!r}") from None
    if not number.is_finite():
        raise HistoryError(f"{what}: not a finite number: {value!r}")
    return format(number.normalize(), "f") if number != 0 else "0"


def file_symbol(symbol: str) -> str:
    """'BTC/USDT:USDT' -> 'BTCUSDT' (what the replay reads back from a file name)."""
    base, _, rest = symbol.partition("/")
    quote = rest.split(":", 1)[0]
    return f"{base}{quote}".replace("-", "")


class _Pager:
    """Calls the exchange with pauses between requests and backoff on retryable errors."""

    def __init__(
        self, exchange: Any, sleep: Sleep, pause: float | None, retries: int, backoff: float
    ) -> None:
        self.exchange = exchange
        self.sleep = sleep
        if pause is None:
            throttled = bool(getattr(exchange, "enableRateLimit", False))
            pause = 0.0 if throttled else float(getattr(exchange, "rateLimit", 1000)) / 1000
        self.pause = pause
        self.retries = retries
        self.backoff = backoff
        self.requests = 0

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        function = getattr(self.exchange, method, None)
        if function is None:
            raise HistoryError(f"{_name(self.exchange)} has no {method}")
        attempt = 0
        while True:
            if self.requests and self.pause:
                await self.sleep(self.pause)
            self.requests += 1
            try:
                result = function(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result
            except Exception as error:
                kinds = {cls.__name__ for cls in type(error).__mro__}
                if not kinds & RETRYABLE or attempt >= self.retries:
                    raise HistoryError(
                        f"{_name(self.exchange)} {method}{_args(args)} failed: "
                        f"{type(error).__name__}: {error}"
                    ) from error
                attempt += 1
                await self.sleep(self.backoff * 2 ** (attempt - 1))


def _name(exchange: Any) -> str:
    return str(getattr(exchange, "id", type(exchange).__name__))


def _args(args: Sequence[Any]) -> str:
    return "(" + ", ".join(repr(a) for a in args) + ")"


async def fetch_candles(
    pager: _Pager,
    symbol: str,
    timeframe: str,
    since: int,
    until: int,
    limit: int,
    params: dict[str, str] | None = None,
) -> list[list[str]]:
    """Rows in [since, until), each timestamp once, pages followed until past `until`; `params`
    go to fetch_ohlcv as they are (e.g. {"price": "mark"})."""
    step = timeframe_ms(timeframe)
    rows: dict[int, list[str]] = {}
    cursor = since
    while cursor < until:
        extra = () if params is None else (dict(params),)
        page = await pager.call("fetch_ohlcv", symbol, timeframe, cursor, limit, *extra)
        if not page:
            break
        last = cursor - 1
        for index, candle in enumerate(page):
            if not isinstance(candle, list | tuple) or len(candle) < 5:
                raise HistoryError(
                    f"fetch_ohlcv row {index}: expected [t, o, h, l, c, v], got {candle!r}"
                )
            stamp = int(candle[0])
            last = max(last, stamp)
            if since <= stamp < until:
                where = f"fetch_ohlcv {symbol} at {stamp}"
                volume = candle[5] if len(candle) > 5 and candle[5] is not None else 0
                rows[stamp] = [str(stamp), *(plain(v, where) for v in [*candle[1:5], volume])]
        if last < cursor:
            break  # the venue did not move forward: nothing more to fetch
        cursor = last + step
    return [rows[stamp] for stamp in sorted(rows)]


async def fetch_funding(
    pager: _Pager, symbol: str, since: int, until: int, limit: int
) -> list[list[str]]:
    """Funding settlements in [since, until), each timestamp once."""
    rows: dict[int, list[str]] = {}
    cursor = since
    while cursor < until:
        page = await pager.call("fetch_funding_rate_history", symbol, cursor, limit)
        if not page:
            break
        last = cursor - 1
        for index, entry in enumerate(page):
            stamp = entry.get("timestamp") if isinstance(entry, dict) else None
            rate = entry.get("fundingRate") if isinstance(entry, dict) else None
            if stamp is None or rate is None:
                raise HistoryError(
                    f"fetch_funding_rate_history entry {index}: needs timestamp and fundingRate, "
                    f"got {entry!r}"
                )
            stamp = int(stamp)
            last = max(last, stamp)
            if since <= stamp < until:
                rows[stamp] = [str(stamp), plain(rate, f"funding {symbol} at {stamp}")]
        if last < cursor:
            break
        cursor = last + 1
    return [rows[stamp] for stamp in sorted(rows)]


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(
        "\n".join([",".join(columns), *(",".join(row) for row in rows)]) + "\n", encoding="utf-8"
    )
    partial.replace(path)
    return path


async def download_history(
    exchange: Any,
    *,
    venue: str,
    symbol: str,
    since: datetime,
    until: datetime,
    timeframe: str = "1m",
    out: Path = Path("var/history"),
    limit: int = 1000,
    funding_limit: int | None = None,
    sleep: Sleep = asyncio.sleep,
    pause: float | None = None,
    retries: int = 5,
    backoff: float = 1.0,
) -> Download:
    """Fetch candles and funding of `symbol` in [since, until) and write the two CSV files.

    `exchange` is a ccxt exchange object (async or sync methods); `limit` rows are asked per
    candle page and `funding_limit` (default `limit`) per funding page. Between requests the download
    pauses `pause` seconds (default: none when ccxt's own throttle is on, else its rateLimit);
    rate-limit and network errors are retried `retries` times with exponential backoff.
    """
    start, end = to_ms(since), to_ms(until)
    if end <= start:
        raise ValueError(
            f"--until ({until.isoformat()}) must be after --since ({since.isoformat()})"
        )
    timeframe_ms(timeframe)
    pager = _Pager(exchange, sleep, pause, retries, backoff)
    markets = await pager.call("load_markets") if hasattr(exchange, "load_markets") else None
    if isinstance(markets, dict) and symbol not in markets:
        near = sorted(s for s in markets if s.startswith(symbol.split("/", 1)[0] + "/"))[:8]
        raise HistoryError(
            f"{_name(exchange)} has no market {symbol!r}"
            + (f"; similar: {', '.join(near)}" if near else "")
        )
    candles = await fetch_candles(pager, symbol, timeframe, start, end, limit)
    from guard.gateway.ccxt.candles import MARK_PRICE_PARAMS  # ccxt loads only to download

    mark_params = MARK_PRICE_PARAMS.get(venue)
    marks = (
        await fetch_candles(pager, symbol, timeframe, start, end, limit, mark_params)
        if mark_params is not None
        else []
    )
    funding = await fetch_funding(pager, symbol, start, end, funding_limit or limit)
    if not candles:
        raise HistoryError(
            f"{_name(exchange)} returned no {timeframe} candles for {symbol} in the range"
        )
    stem = f"{venue}_{file_symbol(symbol)}"
    span = f"{since:%Y-%m-%d}_{until:%Y-%m-%d}"
    candles_path = write_csv(out / f"{stem}_{timeframe}_{span}.csv", CANDLE_COLUMNS, candles)
    funding_path = write_csv(out / f"{stem}_funding_{span}.csv", FUNDING_COLUMNS, funding)
    mark_path = write_csv(mark_candles_path(candles_path), CANDLE_COLUMNS, marks) if marks else None
    return Download(
        candles_path,
        funding_path,
        len(candles),
        len(funding),
        pager.requests,
        mark_path,
        len(marks),
    )
