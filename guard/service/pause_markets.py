"""The markets an account is known to trade, for `guard pause --market` (I/O: the database, else
the journaled store's known file, else a paper account's scenario): whatever still answers during
a database outage. Never raises; says where the list came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from guard.service.config import GuardConfig

CONNECT_TIMEOUT = 2  # seconds: a blackholed PostgreSQL must not hold an operator's pause


@dataclass(frozen=True, slots=True)
class KnownMarkets:
    """The account's markets (empty when nothing is known) and where they were found."""

    markets: tuple[str, ...]
    source: str


def known_markets(config: GuardConfig, config_path: Path, account: str) -> KnownMarkets:
    """The markets the service recorded for `account` in the database; while it is unreachable,
    those in the known file beside the journal; else (paper) the scenario's markets."""
    problems: list[str] = []
    found = _from_database(config, account, problems)
    if found:
        return KnownMarkets(tuple(found), "the database (the service's last tick)")
    journal = config.service.journal
    if journal is not None:
        from guard.store.journal_known import known_path, load_known

        where = journal if journal.is_absolute() else config_path.resolve().parent / journal
        known = load_known(known_path(where))
        if known is not None and known.markets.get(account):
            return KnownMarkets(tuple(known.markets[account]), f"{known_path(where)}")
    configured = next((a for a in config.accounts if a.name == account), None)
    if configured is not None and configured.is_paper:
        from guard.gateway.paper.scenarios import scenario

        try:
            chosen = scenario(configured.scenario, configured.seed)
        except (KeyError, ValueError, OSError) as error:
            problems.append(f"scenario {configured.scenario}: {error}")
        else:
            return KnownMarkets(tuple(sorted(chosen.markets)), f"scenario {configured.scenario}")
    return KnownMarkets((), "; ".join(problems) or "nothing recorded yet")


def _from_database(config: GuardConfig, account: str, problems: list[str]) -> list[str]:
    from guard.store import Store

    try:
        url = config.service.database()
        if url.startswith("postgresql") and "connect_timeout" not in url:
            url += ("&" if "?" in url else "?") + f"connect_timeout={CONNECT_TIMEOUT}"
        store = Store(url, write_timeout=1.0)
    except Exception as error:  # a secret that cannot be read: fall back
        problems.append(f"database: {type(error).__name__}: {error}")
        return []
    try:
        return store.account_markets(account)
    except Exception as error:  # unreachable, not migrated: fall back to what else is known
        first = (str(getattr(error, "orig", None) or error).strip().splitlines() or [""])[0]
        problems.append(f"database unreachable ({first[:120]})")
        return []
    finally:
        store.dispose()
