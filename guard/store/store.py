"""The Store: one object for every database read and write of the guard, composed of its
concerns (audit chain, locks, rule state, intents, the egress gate, requests, accounts) and the
status view."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from guard.core.position_risk import PositionRisk
from guard.store.accounts import Accounts
from guard.store.audit_archive import AuditArchive
from guard.store.audit_verify import AuditVerify
from guard.store.egress import Egress
from guard.store.operator_requests import Requests
from guard.store.records import AccountStatus, LockScope
from guard.store.tick_io import TickIO
from guard.store.tokens import Tokens


class Store(TickIO, Egress, Requests, Accounts, Tokens, AuditVerify, AuditArchive):
    """Database access for the service and the CLI (SQLite by default, PostgreSQL in production)."""

    problem: str | None = None  # why the database is unusable now (set by a JournaledStore)

    @property
    def sends_unverified(self) -> bool:
        """Whether an order must be looked up at the venue by client id before it is sent (a
        JournaledStore started without the database); the database's intents make it needless."""
        return False

    def status(self, now: datetime) -> list[AccountStatus]:
        """Every registered or ticked account as `guard status` shows it, by name."""
        registered = {a.name: a for a in self.accounts()}
        summaries = self.summaries()
        active = self.locks(now)
        pending = self.unresolved_intents()
        requests = self.pending_requests()
        latest = max((a.registered_at for a in registered.values()), default=None)
        rows: list[AccountStatus] = []
        for name in sorted(set(registered) | set(summaries)):
            account = registered.get(name)
            summary = summaries.get(name, {})
            locks = tuple(lock for lock in active if lock.covers(name))
            dry_run = account.dry_run if account is not None else False
            disabled = account.disabled_reason if account is not None else None
            in_config = account is not None and account.registered_at == latest
            if disabled is not None:
                mode = "disabled"
            elif not in_config:  # e.g. an old demo run's account, or one removed from the config
                mode = "not running"
            elif any(lock.scope is LockScope.GLOBAL for lock in locks):
                mode = "paused"
            elif locks:
                mode = "locked"
            else:
                mode = "dry-run" if dry_run else "active"
            # the wall time of the tick (a paper account's own clock is virtual and runs ahead)
            wall = summary.get("ticked_at")
            last: datetime | None = (
                datetime.fromisoformat(wall) if wall else summary.get("last_tick_at")
            )
            rows.append(
                AccountStatus(
                    name=name,
                    venue=account.venue if account is not None else None,
                    dry_run=dry_run,
                    mode=mode,
                    last_tick_at=last,
                    tick_age=now - last if last is not None else None,
                    equity=_decimal_or_none(summary.get("equity")),
                    margin_ratio=_decimal_or_none(summary.get("margin_ratio")),
                    worst_liquidation_distance=_decimal_or_none(
                        summary.get("worst_liquidation_distance")
                    ),
                    open_breaches=int(summary.get("open_breaches") or 0),
                    disabled_reason=disabled,
                    in_config=in_config,
                    pending_intents=sum(1 for i in pending if i.account == name),
                    pending_requests=sum(1 for r in requests if r.account == name),
                    locks=locks,
                    positions=tuple(_position(p) for p in summary.get("positions") or ()),
                )
            )
        return rows


def _position(row: dict[str, Any]) -> PositionRisk:
    leverage = _decimal_or_none(row.get("leverage"))
    return PositionRisk(
        symbol=str(row["symbol"]),
        side=str(row["side"]),
        margin_mode=str(row.get("margin_mode") or ""),
        quantity=Decimal(str(row["quantity"])),
        mark_price=Decimal(str(row["mark_price"])),
        leverage=Decimal("Infinity") if leverage is None else leverage,  # no equity left
        liquidation_price=_decimal_or_none(row.get("liquidation_price")),
        liquidation_distance=_decimal_or_none(row.get("liquidation_distance")),
    )


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
