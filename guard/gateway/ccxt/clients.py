"""ccxt client set-up: credentials, settings, one client per venue with its options and the
dYdX/Hyperliquid fixes, ccxt's logs scrubbed of keys. Not pure (env, secret files)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from guard.core.venues.ccxt_options import CcxtVenue, ccxt_venue
from guard.gateway.base import PermanentError
from guard.gateway.ccxt.errors import redact

# ccxt logs every request with its headers (API keys, passphrases) at DEBUG on this logger
CCXT_LOGGER = "ccxt.base.exchange"
SECRETS: set[str] = set()  # every credential value any gateway of this process resolved


class RedactSecrets(logging.Filter):
    """Scrubs resolved credential values from ccxt's log records before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not SECRETS:
            return True
        message = record.getMessage()
        cleaned = redact(message, sorted(SECRETS))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_ccxt_log = logging.getLogger(CCXT_LOGGER)
_ccxt_log.addFilter(RedactSecrets())
if _ccxt_log.level == logging.NOTSET:
    _ccxt_log.setLevel(logging.INFO)  # request dumps only when an operator asks for them


# --------------------------------------------------------------------------------------------
# credentials


@dataclass(frozen=True, slots=True)
class Credentials:
    """Where an account's secrets live: ccxt field -> env var name, or -> secret file path.

    Only names and paths are stored (safe in YAML and logs); values are read at client creation.
    """

    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The secret values; a PermanentError names the missing variable or file, not a value."""
        source = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name, variable in self.env.items():
            value = source.get(variable)
            if not value:
                raise PermanentError(f"credential {name}: environment variable {variable} is unset")
            values[name] = value
        for name, path in self.files.items():
            try:
                values[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise PermanentError(
                    f"credential {name}: cannot read secret file {path} ({error.strerror})"
                ) from None
            if not values[name]:
                raise PermanentError(f"credential {name}: secret file {path} is empty")
        return values


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One account on one venue as the gateway needs it (no secret values)."""

    name: str
    venue: str
    credentials: Credentials = field(default_factory=Credentials)
    # symbols whose market data is fetched even with no open position there
    watch_symbols: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Tunables of one venue gateway (defaults suit production; tests shrink the waits)."""

    timeout_ms: int = 10_000
    read_attempts: int = 4
    backoff_base: float = 0.5  # seconds, exponential with full jitter
    backoff_max: float = 8.0
    # requests in flight per venue (None: the venue's, guard.gateway.ccxt.budget.LIMITS)
    max_concurrent: int | None = None
    market_data_ttl: timedelta = timedelta(seconds=2)  # one "tick epoch" of shared market data
    markets_max_age: timedelta = timedelta(hours=1)
    book_depth_levels: int = 5
    api_base: str | None = None  # e.g. a local stub or a proxy; every API url is rewritten
    # rate limiting on (off only for recorded replays): the venue's weight window where
    # guard.gateway.ccxt.budget knows it (Binance, Hyperliquid), else ccxt's request spacing
    ccxt_rate_limit: bool = True
    cooldown_max_wait: timedelta = timedelta(seconds=5)  # longer 429/418 cool-downs fail fast
    # account modes (Bybit account info, OKX config, Hyperliquid abstraction and HIP-3 DEXes) are
    # re-read after this, or at once when a position opens (not when one closes)
    account_mode_ttl: timedelta = timedelta(minutes=10)
    # the executor's one-position re-read reuses the rest of a snapshot at most this old
    reread_base_max_age: timedelta = timedelta(seconds=30)
    # the executor's re-read IS the account's last full snapshot when that was taken at most this
    # long before and nothing was sent or cancelled for the account since (zero: always re-read)
    reread_fresh: timedelta = timedelta(seconds=1)
    # idle keep-alive of the venue's one shared connection pool (guard.gateway.ccxt.http): longer
    # than the backstop poll, so a tick after a quiet spell reuses a warm connection instead of a
    # new TCP and TLS handshake (aiohttp's own default is 15 s); the venue may close it sooner
    keepalive: timedelta = timedelta(seconds=120)


# --------------------------------------------------------------------------------------------
# clients


class _Hyperliquid(ccxt_async.hyperliquid):  # type: ignore[misc]
    """Hyperliquid without ccxt's first-use writes (builder-fee approval, setReferrer)."""

    async def initialize_client(self) -> bool:
        return True


class _Dydx(ccxt_async.dydx):  # type: ignore[misc]
    """dYdX with the indexer's integer market exponents accepted when building an order.

    ccxt 4.5.90 (Python) feeds `info.atomicResolution` and `info.quantumConversionExponent`
    to string arithmetic, but the indexer sends them as JSON integers (see the real
    perpetualMarkets payload), so every create_order fails with a TypeError. They are
    stringified here, once per market, before ccxt builds the order. ccxt also names its own
    order-router address (a revenue-share attribution) on every order; it is removed, as the
    Hyperliquid builder is.
    """

    def create_order_request(
        self, symbol: Any, type: Any, side: Any, amount: Any, price: Any = None, params: Any = None
    ) -> Any:
        info = self.market(symbol).get("info") or {}
        for key in ("atomicResolution", "quantumConversionExponent"):
            if isinstance(info.get(key), int):
                info[key] = str(info[key])
        built = super().create_order_request(symbol, type, side, amount, price, params or {})
        built[1]["value"]["order"]["orderRouterAddress"] = ""
        return built


_CLASSES: dict[str, Any] = {"hyperliquid": _Hyperliquid, "dydx": _Dydx}


def redirect_urls(urls: Any, base: str) -> Any:
    """Every API url rewritten to `base`/<key>/<original path> (a stub server or a proxy)."""
    if isinstance(urls, dict):
        return {key: _redirect_one(key, value, base) for key, value in urls.items()}
    return _redirect_one("api", urls, base)


def _redirect_one(key: str, value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {k: _redirect_one(k, v, base) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    path = urlsplit(value.replace("{hostname}", "host")).path.rstrip("/")
    return f"{base.rstrip('/')}/{key}{path}"


def make_client(
    venue: CcxtVenue,
    secrets: Mapping[str, str] | None = None,
    settings: GatewaySettings | None = None,
    *,
    streaming: bool = False,
) -> Any:
    """A ccxt async exchange for `venue` with the project's options (unauthenticated if no secrets);
    `streaming`: its ccxt.pro (websocket) client, whose ws urls follow `api_base` too."""
    settings = settings or GatewaySettings()
    config: dict[str, Any] = {
        key: dict(value) if isinstance(value, Mapping) else value
        for key, value in venue.config.items()
    }
    options: dict[str, Any] = _deep_copy(config.get("options", {}))
    config["options"] = options
    config["enableRateLimit"] = settings.ccxt_rate_limit
    config["timeout"] = settings.timeout_ms
    for name, value in (secrets or {}).items():
        if venue.venue == "dydx" and name == "privateKey":
            options["privateKey"] = value  # the dYdX chain key (hex secp256k1)
        else:
            config[name] = value
    if streaming:
        cls = getattr(ccxt_pro, venue.ccxt_id)
    else:
        cls = _CLASSES.get(venue.venue) or getattr(ccxt_async, venue.ccxt_id)
    client = cls(config)
    if settings.api_base:
        client.urls["api"] = redirect_urls(client.urls["api"], settings.api_base)
        if streaming:  # the lab serves each venue's websocket at <base>/ws
            ws = settings.api_base.rstrip("/").replace("http", "ws", 1) + "/ws"
            client.urls["api"]["ws"] = _every_url(client.urls["api"].get("ws") or {}, ws)
    return client


def _every_url(urls: Any, url: str) -> Any:
    if isinstance(urls, dict):
        return {key: _every_url(value, url) for key, value in urls.items()}
    return url


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep_copy(v) for v in value]
    return value


def public_client(venue: str, settings: GatewaySettings | None = None) -> Any:
    """An unauthenticated ccxt async exchange for `venue` with the venue's options (history)."""
    return make_client(ccxt_venue(venue), None, settings)
