"""The audit log: append-only rows, each hash-chained (sha256) from GENESIS to the row before it
on its chain (its account, or @service), appended inside the caller's transaction under the
chain's lock; anchors over every chain's tip; reads (verification: guard.store.audit_verify)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, not_, or_
from sqlmodel import Session, col, select

from guard.core.audit import QUIET_EVALUATION_ENDING, AuditEvent, EventKind
from guard.store.codec import to_jsonable
from guard.store.database import (
    LEGACY_CHAIN,
    SERVICE_CHAIN,
    Connectable,
    Database,
    chain_of,
    lock_order,
)
from guard.store.tables import AuditRow, table_of

GENESIS = "0" * 64
_AUDIT = table_of(AuditRow)
_TIP = (
    select(_AUDIT.c.hash)
    .where(_AUDIT.c.chain == bindparam("chain"))
    .order_by(_AUDIT.c.id.desc())
    .limit(1)
)
_INSERT = insert(_AUDIT)


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


HASHED = (
    "at",
    "kind",
    "account",
    "symbol",
    "rule_id",
    "tick_id",
    "fingerprint",
    "actor",
    "client_order_id",
    "message",
    "payload",
)  # the row's content in hash order (after its chain and the previous hash)


def fields_hash(prev_hash: str, chain: str, fields: Mapping[str, Any]) -> str:
    """sha256 over the previous hash of its chain and the row's content (everything but id and
    hashes; `payload` as its stored JSON text), the chain's name first; a @legacy row (written
    before 0005) hashes without it."""
    named = [] if chain == LEGACY_CHAIN else [chain]
    content = json.dumps(
        [*named, prev_hash, fields["at"].isoformat(), *(fields[name] for name in HASHED[1:])],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(content.encode()).hexdigest()


def row_hash(prev_hash: str, row: AuditRow) -> str:
    """fields_hash of a stored row."""
    return fields_hash(prev_hash, row.chain, {name: getattr(row, name) for name in HASHED})


def anchor_digest(tips: dict[str, dict[str, Any]]) -> str:
    """The one hash an anchor records over every chain's tip (chain -> id and hash)."""
    text = json.dumps(tips, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class AuditChain(Database):
    """The hash-chained audit log of the Store."""

    def append(self, session: Connectable, events: Sequence[AuditEvent], at: datetime) -> list[int]:
        """Append events inside the caller's transaction (an ORM session or a Core connection),
        chaining each to the previous row of its chain (PostgreSQL: under that chain's advisory
        lock, held until commit); returns their ids."""
        if not events:
            return []
        conn = session.connection() if isinstance(session, Session) else session
        chains = lock_order(chain_of(item.account) for item in events)
        self._lock_chains(conn, chains)
        tips = {chain: conn.execute(_TIP, {"chain": chain}).scalar() or GENESIS for chain in chains}
        ids: list[int] = []
        for item in events:
            chain = chain_of(item.account)
            fields: dict[str, Any] = {
                "at": at,
                "kind": item.kind.value,
                "account": item.account,
                "symbol": item.symbol,
                "rule_id": item.rule_id,
                "tick_id": item.tick_id,
                "fingerprint": item.fingerprint,
                "actor": item.actor,
                "client_order_id": item.client_order_id,
                "message": item.message,
                "payload": json.dumps(to_jsonable(dict(item.payload)), sort_keys=True),
            }
            digest = fields_hash(tips[chain], chain, fields)
            inserted = conn.execute(
                _INSERT, {**fields, "chain": chain, "prev_hash": tips[chain], "hash": digest}
            )
            tips[chain] = digest
            key = inserted.inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
        return ids

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

    def events_of_kind(self, kind: str) -> list[StoredEvent]:
        """Every event of `kind`, in id order."""
        with self.reading() as session:
            rows = session.exec(
                select(AuditRow).where(AuditRow.kind == kind).order_by(col(AuditRow.id))
            ).all()
            return [_event(row) for row in rows]

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
