"""The accounts a service registers when it starts (the CLI's known names) and the tick
summaries the status reads; registration is serialised with the other writers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from guard.store.database import Database
from guard.store.errors import UnknownAccount
from guard.store.records import AccountInfo, StoredAccount
from guard.store.tables import AccountRow, StateRow


class Accounts(Database):
    """Registered accounts and tick summaries of the Store."""

    def register_accounts(self, accounts: Sequence[AccountInfo], at: datetime) -> None:
        """Record (or refresh) the accounts a starting service guards; the CLI's known names."""
        with self.transaction() as session:
            # replicas starting together register the same names
            self._serialize(session, *(info.name for info in accounts))
            for info in accounts:
                row = session.get(AccountRow, info.name)
                if row is None:
                    row = AccountRow(
                        name=info.name,
                        venue=info.venue,
                        dry_run=info.dry_run,
                        poll_interval=info.poll_interval,
                        registered_at=at,
                        disabled_reason=info.disabled_reason,
                        disabled_at=at if info.disabled_reason else None,
                    )
                else:
                    row.venue = info.venue
                    row.dry_run = info.dry_run
                    row.poll_interval = info.poll_interval
                    row.registered_at = at
                    if info.disabled_reason is None or row.disabled_reason is None:
                        row.disabled_at = at if info.disabled_reason else None
                    row.disabled_reason = info.disabled_reason
                session.add(row)

    def disable_account(self, account: str, reason: str, at: datetime) -> None:
        """The service stopped acting on `account` (a permanent error): `guard status` says why."""
        with self.transaction() as session:
            row = session.get(AccountRow, account)
            if row is not None:
                row.disabled_reason, row.disabled_at = reason, at
                session.add(row)

    def accounts(self) -> list[StoredAccount]:
        with self.reading() as session:
            rows = session.exec(select(AccountRow).order_by(col(AccountRow.name))).all()
            return [_stored_account(row) for row in rows]

    def check_account(self, account: str) -> str | None:
        """Raise UnknownAccount for a name no service registered; a warning (str) when no
        service has registered any account yet (then every name is accepted)."""
        known = [a.name for a in self.accounts()]
        if not known:
            return (
                f"no accounts registered yet (the service registers them when it starts): "
                f"accepting {account!r} unchecked"
            )
        if account not in known:
            raise UnknownAccount(f"unknown account {account!r}; known accounts: {', '.join(known)}")
        return None

    def record_markets(self, account: str, markets: Sequence[str]) -> None:
        """The markets the account's latest snapshot listed (operator commands resolve to them)."""
        with self.transaction() as session:
            row = session.get(AccountRow, account)
            if row is not None:
                row.markets = json.dumps(sorted(markets))
                session.add(row)

    def account_markets(self, account: str) -> list[str]:
        """The markets recorded for `account` (empty before its first tick)."""
        with self.reading() as session:
            row = session.get(AccountRow, account)
            return [] if row is None or row.markets is None else list(json.loads(row.markets))

    def summaries(self) -> dict[str, dict[str, Any]]:
        with self.reading() as session:
            rows = session.exec(select(StateRow)).all()
            return {
                row.account: {
                    **json.loads(row.summary),
                    "last_tick_at": row.last_tick_at,
                    "last_tick_id": row.last_tick_id,
                }
                for row in rows
            }


def _stored_account(row: AccountRow) -> StoredAccount:
    return StoredAccount(
        name=row.name,
        venue=row.venue,
        dry_run=row.dry_run,
        poll_interval=row.poll_interval,
        registered_at=row.registered_at,
        last_seen_at=row.last_seen_at,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
    )
