"""One aiohttp session (one connection pool) per venue gateway, shared by its ccxt REST clients
(every account's and the public one), opened and closed by the gateway's CcxtSession. Not pure
(sockets, TLS). Why: each ccxt client otherwise opens its own pool whose idle keep-alive
connections aiohttp drops after 15 s, so a stream-woken tick after a quiet spell paid a new TCP
and TLS handshake before its reads and its order, and N accounts held N pools to one host.
Invariant: a client that was given the shared session never closes it (ccxt leaves a session it
did not create open: `own_session` False); only `SharedHttp.close` does."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

import aiohttp
import aiohttp.connector

log = logging.getLogger("guard.gateway.ccxt")

# aiohttp warns when asked to clean closed TLS transports on a Python that no longer needs it
_CLEANUP_CLOSED = bool(getattr(aiohttp.connector, "NEEDS_CLEANUP_CLOSED", False))


def _tls_key(client: Any) -> tuple[Any, ...]:
    """What a ccxt client puts into its own session: TLS verification, CA file, proxy env."""
    options = getattr(client, "options", None) or {}
    return (
        getattr(client, "verify", True),
        getattr(client, "cafile", None),
        bool(getattr(client, "aiohttp_trust_env", False)),
        bool(options.get("include_OS_certificates", False)),
    )


class SharedHttp:
    """The venue's one aiohttp session: keep-alive `keepalive_s`, at most `limit` connections."""

    def __init__(self, keepalive_s: float, limit: int) -> None:
        if keepalive_s <= 0:
            raise ValueError(f"keep-alive must be positive, got {keepalive_s}")
        if limit < 1:
            raise ValueError(f"connection limit must be at least 1, got {limit}")
        self.keepalive_s = keepalive_s
        self.limit = limit
        self.session: aiohttp.ClientSession | None = None
        self._key: tuple[Any, ...] | None = None
        self.own_sessions = 0  # clients that kept their own session (different TLS or proxy env)

    def attach(self, client: Any) -> bool:
        """Give ccxt `client` the shared session (True); False: it keeps its own, because it is
        not a ccxt async exchange, already has a session, needs other TLS or proxy-environment
        settings (a session-wide choice in aiohttp), or no event loop runs yet (aiohttp binds a
        session to its loop; ccxt then opens the client's own on first use)."""
        if not getattr(client, "own_session", False) or getattr(client, "session", None):
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        key = _tls_key(client)
        if self.session is None or self.session.closed:
            self.session, self._key = self._open(client), key
        elif key != self._key:
            self.own_sessions += 1
            log.info("%s: a client with its own TLS/proxy settings keeps its own session", client)
            return False
        client.session = self.session
        client.own_session = False  # ccxt's close() now leaves the session open
        return True

    def _open(self, client: Any) -> aiohttp.ClientSession:
        verify, cafile, trust_env, os_certificates = _tls_key(client)
        context: ssl.SSLContext | bool = False
        if verify:
            context = ssl.create_default_context(cafile=cafile)
            if os_certificates:
                defaults = ssl.get_default_verify_paths()
                if defaults.cafile and defaults.cafile != cafile:
                    context.load_verify_locations(cafile=defaults.cafile)
        connector = aiohttp.TCPConnector(
            ssl=context,
            limit=self.limit,
            keepalive_timeout=self.keepalive_s,
            enable_cleanup_closed=_CLEANUP_CLOSED,
            family=socket.AF_UNSPEC,
            happy_eyeballs_delay=0,
        )
        return aiohttp.ClientSession(connector=connector, trust_env=trust_env)

    async def close(self) -> None:
        """Close the session and its connections (after the clients' own close)."""
        session, self.session = self.session, None
        if session is not None and not session.closed:
            await session.close()
