"""The audit log: append-only rows, each hash-chained (sha256) from GENESIS to the row before it
on its chain (its account, or @service), appended inside the caller's transaction under the
chain's lock; anchors over every chain's tip; reads (verification: guard.store.audit_verify)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, not_, or_
from sqlmodel import Session, col, select

from guard.core.audit import QUIET_EVALUATION_ENDING, AuditEvent, EventKind
from guard.store.codec import to_jsonable
from guard.store.database import LEGACY_CHAIN, SERVICE_CHAIN, Database, chain_of, lock_order
from guard.store.tables import AuditRow

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An audit row as read back."""

    id: int
    at: datetime
    chain: str
    kind: str
    account: str | None
    symbol: str | None
    rule_id: str | None
    tick_id: str | None
    fingerprint: str | None
    actor: str
    client_order_id: str | None
    message: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


def row_hash(prev_hash: str, row: AuditRow) -> str:
    """sha256 over the previous hash of its chain and the row's content (everything but id and
    hashes), the chain's name first; a @legacy row (written before 0005) hashes without it."""
    named = [] if row.chain == LEGACY_CHAIN else [row.chain]
    content = json.dumps(
        [
            *named,
            prev_hash,
            row.at.isoformat(),
            row.kind,
            row.account,
            row.symbol,
            row.rule_id,
            row.tick_id,
            row.fingerprint,
            row.actor,
            row.client_order_id,
            row.message,
            row.payload,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(content.encode()).hexdigest()


def anchor_digest(tips: dict[str, dict[str, Any]]) -> str:
    """The one hash an anchor records over every chain's tip (chain -> id and hash)."""
    text = json.dumps(tips, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class AuditChain(Database):
    """The hash-chained audit log of the Store."""

    def _chain_tip(self, session: Session, chain: str) -> str:
        last = session.exec(
            select(AuditRow.hash)
            .where(AuditRow.chain == chain)
            .order_by(col(AuditRow.id).desc())
            .limit(1)
        ).first()
        return last or GENESIS

    def append(self, session: Session, events: Sequence[AuditEvent], at: datetime) -> list[int]:
        """Append events inside `session`'s transaction, chaining each to the previous row of its
        chain (PostgreSQL: under that chain's advisory lock, held until commit)."""
        if not events:
            return []
        chains = lock_order(chain_of(item.account) for item in events)
        self._lock_chains(session, chains)
        tips = {chain: self._chain_tip(session, chain) for chain in chains}
        rows: list[AuditRow] = []
        for item in events:
            chain = chain_of(item.account)
            row = AuditRow(
                at=at,
                chain=chain,
                kind=item.kind.value,
                account=item.account,
                symbol=item.symbol,
                rule_id=item.rule_id,
                tick_id=item.tick_id,
                fingerprint=item.fingerprint,
                actor=item.actor,
                client_order_id=item.client_order_id,
                message=item.message,
                payload=json.dumps(to_jsonable(dict(item.payload)), sort_keys=True),
                prev_hash=tips[chain],
                hash="",
            )
            row.hash = row_hash(row.prev_hash, row)
            tips[chain] = row.hash
            session.add(row)
            rows.append(row)
        session.flush()
        return [row.id for row in rows if row.id is not None]

    def chain_tips(self, session: Session) -> dict[str, dict[str, Any]]:
        """Every chain's last committed row: chain -> {"id", "hash"}."""
        last = (
            select(AuditRow.chain, func.max(AuditRow.id).label("id"))
            .group_by(col(AuditRow.chain))
            .subquery()
        )
        rows = session.exec(
            select(AuditRow.chain, AuditRow.id, AuditRow.hash).join(
                last, col(AuditRow.id) == last.c.id
            )
        ).all()
        return {chain: {"id": row_id, "hash": digest} for chain, row_id, digest in rows}

    def anchor(self, at: datetime, actor: str = "guard") -> StoredEvent:
        """Append an `anchor` event on @service recording every chain's tip and one hash over
        them; `guard audit verify` then notices a chain cut below (or deleted after) an anchor."""
        with self.transaction() as session:
            self._serialize(session, SERVICE_CHAIN)
            tips = self.chain_tips(session)
            digest = anchor_digest(tips)
            event = AuditEvent(
                EventKind.ANCHOR,
                f"anchor over {len(tips)} chain(s): {digest[:16]}",
                actor=actor,
                payload={"chains": tips, "digest": digest},
            )
            (anchor_id,) = self.append(session, [event], at)
            row = session.get(AuditRow, anchor_id)
            assert row is not None
            return _event(row)

    def audit(self, events: Sequence[AuditEvent], at: datetime) -> list[int]:
        with self.transaction() as session:
            return self.append(session, events, at)

    def tail(
        self,
        limit: int = 20,
        account: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        hide_quiet: bool = False,
    ) -> list[StoredEvent]:
        """The newest `limit` events matching the filters, oldest first; `hide_quiet` leaves out
        quiet evaluations (nothing breached, nothing planned)."""
        with self.reading() as session:
            query = select(AuditRow)
            if hide_quiet:
                query = query.where(
                    or_(
                        col(AuditRow.kind) != EventKind.EVALUATION.value,
                        not_(col(AuditRow.message).endswith(QUIET_EVALUATION_ENDING)),
                    )
                )
            if account is not None:
                query = query.where(AuditRow.account == account)
            if kind is not None:
                query = query.where(AuditRow.kind == kind)
            if since is not None:
                query = query.where(col(AuditRow.at) >= since)
            rows = session.exec(query.order_by(col(AuditRow.id).desc()).limit(limit)).all()
            return [_event(row) for row in reversed(rows)]

    def event(self, event_id: int) -> StoredEvent | None:
        with self.reading() as session:
            row = session.get(AuditRow, event_id)
            return _event(row) if row is not None else None

    def events(self, after_id: int = 0, batch: int = 1000) -> Iterator[StoredEvent]:
        """Every event in id order, read in batches."""
        last = after_id
        while True:
            with self.reading() as session:
                rows = session.exec(
                    select(AuditRow)
                    .where(col(AuditRow.id) > last)
                    .order_by(col(AuditRow.id))
                    .limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield _event(row)
            last = rows[-1].id or last

    def count_events(self, kind: str | None = None, account: str | None = None) -> int:
        with self.reading() as session:
            query = select(func.count()).select_from(AuditRow)
            if kind is not None:
                query = query.where(AuditRow.kind == kind)
            if account is not None:
                query = query.where(AuditRow.account == account)
            return int(session.exec(query).one())


def _event(row: AuditRow) -> StoredEvent:
    assert row.id is not None
    return StoredEvent(
        id=row.id,
        at=row.at,
        chain=row.chain,
        kind=row.kind,
        account=row.account,
        symbol=row.symbol,
        rule_id=row.rule_id,
        tick_id=row.tick_id,
        fingerprint=row.fingerprint,
        actor=row.actor,
        client_order_id=row.client_order_id,
        message=row.message,
        payload=json.loads(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
