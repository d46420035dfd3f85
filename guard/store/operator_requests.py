"""Operator flatten requests: queued by the CLI, carried out once by the service (pending, then
done or failed with its outcome); each change audited in its transaction."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlmodel import col, select

from guard.core.audit import AuditEvent, EventKind
from guard.core.domain import ZERO
from guard.store.audit_chain import AuditChain
from guard.store.errors import InvalidRequest
from guard.store.records import RequestStatus, StoredRequest
from guard.store.tables import RequestRow


class Requests(AuditChain):
    """Operator requests of the Store."""

    def request_flatten(
        self,
        *,
        account: str,
        fraction: Decimal,
        reason: str,
        actor: str,
        at: datetime,
        market: str | None = None,
    ) -> int:
        """Queue a flatten for the service (audited as flatten_requested); returns its id."""
        if not reason.strip():
            raise InvalidRequest("a flatten needs a reason")
        if not ZERO < fraction <= 1:
            raise InvalidRequest(f"fraction must be in (0, 1], got {fraction}")
        with self.transaction() as session:
            row = RequestRow(
                kind="flatten",
                account=account,
                market=market,
                fraction=fraction,
                reason=reason.strip(),
                actor=actor,
                created_at=at,
                status=RequestStatus.PENDING.value,
            )
            session.add(row)
            session.flush()
            request = stored_request(row)
            target = market or "every position"
            self.append(
                session,
                [
                    AuditEvent(
                        EventKind.FLATTEN_REQUESTED,
                        f"flatten #{request.id} requested by {actor}: reduce {target} "
                        f"by {fraction} — {request.reason}",
                        account=account,
                        symbol=market,
                        actor=actor,
                        payload=_request_payload(request),
                    )
                ],
                at,
            )
        return request.id

    def request(self, request_id: int) -> StoredRequest | None:
        with self.reading() as session:
            row = session.get(RequestRow, request_id)
            return stored_request(row) if row is not None else None

    def pending_requests(self, account: str | None = None) -> list[StoredRequest]:
        """Requests the service has not carried out yet, oldest first."""
        with self.reading() as session:
            query = select(RequestRow).where(RequestRow.status == RequestStatus.PENDING.value)
            if account is not None:
                query = query.where(RequestRow.account == account)
            rows = session.exec(query.order_by(col(RequestRow.id))).all()
            return [stored_request(row) for row in rows]

    def complete_request(
        self,
        request_id: int,
        outcome: str,
        at: datetime,
        *,
        failed: bool = False,
        actor: str = "guard",
        tick_id: str | None = None,
    ) -> StoredRequest:
        """Mark a pending request done (or failed) with its outcome, once; audited."""
        with self.transaction() as session:
            row = session.get(RequestRow, request_id)
            if row is None:
                raise InvalidRequest(f"no operator request with id {request_id}")
            if row.status != RequestStatus.PENDING.value:
                raise InvalidRequest(
                    f"operator request #{request_id} is already {row.status}: {row.outcome}"
                )
            row.status = (RequestStatus.FAILED if failed else RequestStatus.DONE).value
            row.outcome = outcome
            row.completed_at = at
            session.add(row)
            request = stored_request(row)
            self.append(
                session,
                [
                    AuditEvent(
                        EventKind.FLATTEN_COMPLETED,
                        f"flatten #{request_id} {request.status.value}: {outcome}",
                        account=request.account,
                        symbol=request.market,
                        tick_id=tick_id,
                        actor=actor,
                        payload=_request_payload(request),
                    )
                ],
                at,
            )
        return request


def stored_request(row: RequestRow | Row[Any]) -> StoredRequest:
    assert row.id is not None
    return StoredRequest(
        id=row.id,
        kind=row.kind,
        account=row.account,
        market=row.market,
        fraction=row.fraction,
        reason=row.reason,
        actor=row.actor,
        created_at=row.created_at,
        status=RequestStatus(row.status),
        outcome=row.outcome,
        completed_at=row.completed_at,
    )


def _request_payload(request: StoredRequest) -> dict[str, Any]:
    return {
        "request_id": request.id,
        "market": request.market,
        "fraction": request.fraction,
        "reason": request.reason,
        "requested_by": request.actor,
        "status": request.status.value,
        "outcome": request.outcome,
    }
