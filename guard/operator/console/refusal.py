"""What a console caller is (Actor) and how a command says no (Refusal): plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from guard.store import Scope


class Why(StrEnum):
    """Why a command was refused; each transport maps it to its own status (HTTP 400...)."""

    UNAUTHENTICATED = "unauthenticated"  # no or unknown credentials
    FORBIDDEN = "forbidden"  # authenticated, without the scope the command needs
    INVALID = "invalid"  # bad input: the message says what would be right
    NOT_FOUND = "not_found"  # no such lock, account, event
    CONFLICT = "conflict"  # the state does not allow it (already cleared, not paused)
    UNAVAILABLE = "unavailable"  # needs the running service (positions, reload)


class Refusal(Exception):
    """A user-facing refusal: `message` is shown to the operator as it is."""

    def __init__(self, why: Why, message: str) -> None:
        super().__init__(message)
        self.why = why
        self.message = message
        self.audited = False  # set once the command layer has audited it


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a name kept in the audit log, what they may do, and through which transport."""

    name: str
    scope: Scope
    via: str  # cli, http, telegram

    def may(self, needed: Scope) -> bool:
        return needed is Scope.READ or self.scope is Scope.OPERATE
