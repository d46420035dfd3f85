"""Operator console tokens: issue (only the secret's sha256 is stored), look up by secret,
list and revoke; issuing and revoking are audited in their transaction. Secrets never leave
this module except as the one value `create_token` returns."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import col, select

from guard.core.audit import AuditEvent, EventKind
from guard.store.audit_chain import AuditChain
from guard.store.errors import InvalidRequest
from guard.store.tables import TokenRow

SECRET_PREFIX = "guard_"


class Scope(StrEnum):
    """What a token may do."""

    READ = "read"  # status, positions, locks, audit: nothing changes
    OPERATE = "operate"  # also lock, unlock, pause, resume, flatten, reload


@dataclass(frozen=True, slots=True)
class StoredToken:
    id: int
    name: str
    scope: Scope
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    def allows(self, needed: Scope) -> bool:
        return self.revoked_at is None and (needed is Scope.READ or self.scope is Scope.OPERATE)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens(AuditChain):
    """Console tokens of the Store."""

    def create_token(
        self, *, name: str, scope: Scope, actor: str, at: datetime
    ) -> tuple[StoredToken, str]:
        """A new token and its secret (shown once: only its sha256 is stored)."""
        name = name.strip()
        if not name:
            raise InvalidRequest("a token needs a name (--name)")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        with self.transaction() as session:
            taken = session.exec(select(TokenRow).where(TokenRow.name == name)).first()
            if taken is not None:
                raise InvalidRequest(
                    f"a token named {name!r} exists already (see `guard token list`)"
                )
            row = TokenRow(
                name=name,
                scope=scope.value,
                secret_sha256=secret_digest(secret),
                created_at=at,
                created_by=actor,
            )
            session.add(row)
            session.flush()
            token = _stored_token(row)
            event = AuditEvent(
                EventKind.TOKEN_CREATED,
                f"console token {name!r} ({scope.value}) created by {actor}",
                actor=actor,
                payload={"token_id": token.id, "name": name, "scope": scope.value},
            )
            self.append(session, [event], at)
        return token, secret

    def token_for(self, secret: str) -> StoredToken | None:
        """The active token whose secret this is, if any."""
        with self.reading() as session:
            row = session.exec(
                select(TokenRow).where(
                    TokenRow.secret_sha256 == secret_digest(secret),
                    col(TokenRow.revoked_at).is_(None),
                )
            ).first()
            return _stored_token(row) if row is not None else None

    def tokens(self) -> list[StoredToken]:
        with self.reading() as session:
            rows = session.exec(select(TokenRow).order_by(col(TokenRow.id))).all()
            return [_stored_token(row) for row in rows]

    def revoke_token(self, name: str, *, actor: str, at: datetime) -> StoredToken:
        """Revoke the token named `name` (audited); InvalidRequest when none is active."""
        with self.transaction() as session:
            row = session.exec(select(TokenRow).where(TokenRow.name == name)).first()
            if row is None:
                raise InvalidRequest(f"no token named {name!r} (see `guard token list`)")
            if row.revoked_at is not None:
                raise InvalidRequest(f"token {name!r} is already revoked by {row.revoked_by}")
            row.revoked_at = at
            row.revoked_by = actor
            session.add(row)
            token = _stored_token(row)
            event = AuditEvent(
                EventKind.TOKEN_REVOKED,
                f"console token {name!r} ({token.scope.value}) revoked by {actor}",
                actor=actor,
                payload={"token_id": token.id, "name": name, "scope": token.scope.value},
            )
            self.append(session, [event], at)
        return token


def _stored_token(row: TokenRow) -> StoredToken:
    assert row.id is not None
    return StoredToken(
        id=row.id,
        name=row.name,
        scope=Scope(row.scope),
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )
