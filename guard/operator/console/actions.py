"""The console's one command layer: status, positions, locks, pause/resume, flatten (two-step
confirmation), audit query and verify, reload. Each command returns plain data or raises a
user-facing Refusal; every change, and every refusal, is audited with the acting Actor.
Blocking I/O (the store): transports call it off their event loop. Nothing here widens what a
human can do: flatten only queues a request the service carries out reduce-only through its
egress gate."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from guard.core.audit import AuditEvent, EventKind
from guard.core.markets import MarketRefused, resolve_market
from guard.operator.console.refusal import Actor, Refusal, Why
from guard.operator.console.views import event_json, intent_json, lock_json, status_json
from guard.store import InvalidRequest, LockNotFound, Scope, Store, UnknownAccount

CONFIRM_TTL = timedelta(minutes=2)
MAX_TAIL = 500


class LiveView(Protocol):
    """What only the running service knows: its accounts' last snapshots, and reloading."""

    def positions(self) -> dict[str, list[dict[str, Any]]]: ...

    def request_reload(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Pending:
    actor: str
    account: str
    market: str | None
    fraction: Decimal
    reason: str
    expires: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConsoleCommands:
    """The commands of every transport over one store (and the running service, when live)."""

    store: Store
    live: LiveView | None = None
    clock: Callable[[], datetime] = _utc_now
    _confirmations: dict[str, _Pending] = field(default_factory=dict)

    # -- guarding and auditing ------------------------------------------------------------

    def refuse(
        self, actor: Actor | None, action: str, refusal: Refusal, account: str | None = None
    ) -> Refusal:
        """Audit `refusal` of `action` (as operator_refused) and return it for raising."""
        who = actor.name if actor is not None else "anonymous"
        via = actor.via if actor is not None else "http"
        self.store.audit(
            [
                AuditEvent(
                    EventKind.OPERATOR_REFUSED,
                    f"{action} refused for {who} via {via}: {refusal.message}",
                    account=account,
                    actor=who,
                    payload={"action": action, "via": via, "why": refusal.why.value},
                )
            ],
            self.clock(),
        )
        refusal.audited = True
        return refusal

    def _allow(self, actor: Actor, needed: Scope, action: str, account: str | None) -> None:
        if not actor.may(needed):
            refusal = Refusal(
                Why.FORBIDDEN,
                f"{action} needs the {needed.value} scope; {actor.name} has {actor.scope.value}",
            )
            raise self.refuse(actor, action, refusal, account)

    def _guarded(
        self, actor: Actor, needed: Scope, action: str, account: str | None = None
    ) -> None:
        self._allow(actor, needed, action, account)

    def _fail(
        self, actor: Actor, action: str, why: Why, message: str, account: str | None
    ) -> Refusal:
        return self.refuse(actor, action, Refusal(why, message), account)

    def _account(self, actor: Actor, action: str, account: str | None) -> str:
        if account is None or not account.strip():
            raise self._fail(actor, action, Why.INVALID, f"{action} needs an account", None)
        try:
            self.store.check_account(account.strip())
        except UnknownAccount as error:
            raise self._fail(actor, action, Why.NOT_FOUND, str(error), None) from None
        return account.strip()

    def _market(self, actor: Actor, action: str, account: str, market: str, strict: bool) -> str:
        known = self.store.account_markets(account)
        if not strict:
            known = [*known, *(lk.market for lk in self.store.locks(self.clock()) if lk.market)]
        found = resolve_market(market, known)
        if not isinstance(found, MarketRefused):
            return found
        if (not known and "/" in market and ":" in market) or not strict:
            return market.strip()
        message = (
            f"market {market!r} cannot be resolved: no market of account {account!r} seen yet; "
            "write it in full, e.g. BTC/USDT:USDT, or lock the whole account"
            if not known
            else f"{found.message} on account {account!r}"
        )
        raise self._fail(actor, action, Why.INVALID, message, account)

    # -- reading ----------------------------------------------------------------------------

    def status(self, actor: Actor) -> list[dict[str, Any]]:
        self._guarded(actor, Scope.READ, "status")
        return [status_json(row) for row in self.store.status(self.clock())]

    def positions(self, actor: Actor) -> dict[str, list[dict[str, Any]]]:
        """Every account's positions as of its last snapshot, with liquidation distance and
        the policy band it is in (served by the running service only)."""
        self._guarded(actor, Scope.READ, "positions")
        if self.live is None:
            raise self._fail(
                actor,
                "positions",
                Why.UNAVAILABLE,
                "positions are known to the running service only (its console or chat)",
                None,
            )
        return self.live.positions()

    def locks(self, actor: Actor, include_inactive: bool = False) -> list[dict[str, Any]]:
        self._guarded(actor, Scope.READ, "locks")
        at = self.clock()
        return [lock_json(lk, at) for lk in self.store.locks(at, include_inactive=include_inactive)]

    def audit_tail(
        self,
        actor: Actor,
        limit: int = 50,
        account: str | None = None,
        kind: str | None = None,
        everything: bool = False,
    ) -> list[dict[str, Any]]:
        self._guarded(actor, Scope.READ, "audit", account)
        if not 0 < limit <= MAX_TAIL:
            raise self._fail(
                actor, "audit", Why.INVALID, f"limit must be in 1..{MAX_TAIL}, got {limit}", account
            )
        if kind is not None and kind not in {k.value for k in EventKind}:
            kinds = ", ".join(k.value for k in EventKind)
            raise self._fail(
                actor, "audit", Why.INVALID, f"unknown kind {kind!r}; kinds: {kinds}", account
            )
        hide = not everything and kind is None
        events = self.store.tail(limit, account, kind, None, hide_quiet=hide)
        return [event_json(e) for e in events]

    def audit_verify(self, actor: Actor) -> dict[str, Any]:
        self._guarded(actor, Scope.READ, "audit verify")
        ok, bad_id, message = self.store.verify_chain()
        return {"intact": ok, "bad_row": bad_id, "message": message}

    def overview(self, actor: Actor) -> dict[str, Any]:
        """What the web page shows: accounts, positions (when live), locks, pending intents and
        requests, the latest decisions."""
        self._guarded(actor, Scope.READ, "overview")
        at = self.clock()
        return {
            "at": at,
            "accounts": [status_json(row) for row in self.store.status(at)],
            "positions": self.live.positions() if self.live is not None else {},
            "locks": [lock_json(lk, at) for lk in self.store.locks(at)],
            "intents": [intent_json(i) for i in self.store.unresolved_intents()],
            "requests": [
                {"id": r.id, "account": r.account, "market": r.market, "actor": r.actor}
                for r in self.store.pending_requests()
            ],
            "decisions": [event_json(e) for e in self.store.tail(15, hide_quiet=True)],
        }

    # -- changing ---------------------------------------------------------------------------

    def lock(
        self,
        actor: Actor,
        *,
        reason: str | None,
        account: str | None = None,
        market: str | None = None,
        expires_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Set an override lock (global without account); audited as lock_set."""
        action = "pause" if account is None else "lock"
        self._guarded(actor, Scope.OPERATE, action, account)
        if reason is None or not reason.strip():
            raise self._fail(
                actor,
                action,
                Why.INVALID,
                f"{action} needs a reason (why, for the audit log)",
                account,
            )
        if market is not None and account is None:
            raise self._fail(actor, action, Why.INVALID, "a market lock needs its account", None)
        if account is not None:
            account = self._account(actor, action, account)
            if market is not None:
                market = self._market(actor, action, account, market, strict=True)
        try:
            taken = self.store.set_lock(
                reason=reason.strip(),
                actor=actor.name,
                at=self.clock(),
                account=account,
                market=market,
                expires_at=expires_at,
            )
        except InvalidRequest as error:
            raise self._fail(actor, action, Why.INVALID, str(error), account) from None
        return lock_json(taken, self.clock())

    def pause(
        self, actor: Actor, *, reason: str | None, expires_at: datetime | None = None
    ) -> dict[str, Any]:
        """Pause the guard everywhere: a global lock."""
        return self.lock(actor, reason=reason, expires_at=expires_at)

    def unlock(
        self,
        actor: Actor,
        *,
        lock_id: int | None = None,
        account: str | None = None,
        market: str | None = None,
        reason: str | None = None,
    ) -> list[dict[str, Any]]:
        """Clear one lock by id, or the active locks of an account (or one of its markets)."""
        self._guarded(actor, Scope.OPERATE, "unlock", account)
        if (lock_id is None) == (account is None):
            raise self._fail(
                actor,
                "unlock",
                Why.INVALID,
                "give a lock id or an account, not both and not neither",
                account,
            )
        at = self.clock()
        if lock_id is not None:
            try:
                cleared = [self.store.clear_lock(lock_id, actor=actor.name, at=at, reason=reason)]
            except LockNotFound as error:
                raise self._fail(actor, "unlock", Why.NOT_FOUND, str(error), None) from None
            except InvalidRequest as error:
                raise self._fail(actor, "unlock", Why.CONFLICT, str(error), None) from None
        else:
            name = self._account(actor, "unlock", account)
            if market is not None:
                market = self._market(actor, "unlock", name, market, strict=False)
            cleared = self.store.clear_locks(
                actor=actor.name, at=at, account=name, market=market, reason=reason
            )
            if not cleared:
                target = f"{market} on account {name}" if market else f"account {name}"
                raise self._fail(actor, "unlock", Why.CONFLICT, f"no active lock on {target}", name)
        return [lock_json(lk, at) for lk in cleared]

    def resume(self, actor: Actor, *, reason: str | None = None) -> list[dict[str, Any]]:
        """Clear the global pause (account and market locks stay)."""
        self._guarded(actor, Scope.OPERATE, "resume")
        at = self.clock()
        cleared = self.store.clear_locks(actor=actor.name, at=at, reason=reason)
        if not cleared:
            raise self._fail(
                actor,
                "resume",
                Why.CONFLICT,
                "the guard is not paused (no active global lock)",
                None,
            )
        return [lock_json(lk, at) for lk in cleared]

    def flatten(
        self,
        actor: Actor,
        *,
        account: str | None,
        reason: str | None,
        market: str | None = None,
        fraction: str = "1",
        confirm: str | None = None,
    ) -> dict[str, Any]:
        """Two steps: without `confirm`, returns what would be requested and a single-use
        confirmation token (nothing queued); with that token (same actor, same request, within
        CONFIRM_TTL), queues the flatten for the service (audited as flatten_requested)."""
        self._guarded(actor, Scope.OPERATE, "flatten", account)
        name = self._account(actor, "flatten", account)
        if reason is None or not reason.strip():
            raise self._fail(
                actor,
                "flatten",
                Why.INVALID,
                "flatten needs a reason (why, for the audit log)",
                name,
            )
        try:
            share = Decimal(str(fraction))
        except InvalidOperation:
            share = Decimal("NaN")
        if not share.is_finite() or not Decimal(0) < share <= 1:
            raise self._fail(
                actor, "flatten", Why.INVALID, f"fraction must be in (0, 1], got {fraction!r}", name
            )
        if market is not None:
            market = self._market(actor, "flatten", name, market, strict=True)
        what = (
            f"close {share * 100:f}% of {market or 'every position'} on {name} (reduce-only), "
            f"as {actor.name}"
        )
        now = self.clock()
        self._confirmations = {k: v for k, v in self._confirmations.items() if v.expires > now}
        wanted = _Pending(actor.name, name, market, share, reason.strip(), now)
        if confirm is None:
            token = secrets.token_urlsafe(16)
            self._confirmations[token] = _Pending(
                actor.name, name, market, share, reason.strip(), now + CONFIRM_TTL
            )
            return {"confirm": token, "what": what, "expires_at": now + CONFIRM_TTL}
        pending = self._confirmations.pop(confirm, None)
        if pending is None or _key(pending) != _key(wanted):
            raise self._fail(
                actor,
                "flatten",
                Why.CONFLICT,
                "confirmation unknown, expired, already used or for another request: "
                "ask for a new one (nothing was requested)",
                name,
            )
        try:
            request_id = self.store.request_flatten(
                account=name,
                market=market,
                fraction=share,
                reason=reason.strip(),
                actor=actor.name,
                at=now,
            )
        except InvalidRequest as error:
            raise self._fail(actor, "flatten", Why.INVALID, str(error), name) from None
        return {"request_id": request_id, "what": what, "status": "pending"}

    def reload(self, actor: Actor) -> dict[str, Any]:
        """Ask the running service to re-read its config and policies (like SIGHUP)."""
        self._guarded(actor, Scope.OPERATE, "reload")
        if self.live is None:
            raise self._fail(
                actor,
                "reload",
                Why.UNAVAILABLE,
                "reload is done by the running service: use its console or send it SIGHUP",
                None,
            )
        self.store.audit(
            [
                AuditEvent(
                    EventKind.OPERATOR_ACTION,
                    f"reload requested by {actor.name} via {actor.via}",
                    actor=actor.name,
                    payload={"action": "reload", "via": actor.via},
                )
            ],
            self.clock(),
        )
        self.live.request_reload()
        return {"reload": "requested"}


def _key(pending: _Pending) -> tuple[str, str, str | None, Decimal, str]:
    return (pending.actor, pending.account, pending.market, pending.fraction, pending.reason)
