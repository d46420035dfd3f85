"""The base every part of the Store shares: the engines (SQLite in WAL mode: writes begin
IMMEDIATE and wait at most `write_timeout`, reads begin deferred and never take the write lock;
or PostgreSQL), transactions, the writers' lock and the schema migrations; database I/O."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import Session, create_engine

from guard.store import migrate
from guard.store.errors import DatabaseUnreachable

LOCKS_KEY = 7_305_001  # PostgreSQL advisory lock: shared by account writers, exclusive by locks
SERVICE_CHAIN = "@service"  # the audit chain of events without an account
LEGACY_CHAIN = "@legacy"  # rows written before per-account chains (one global chain)
READ_TIMEOUT = 5.0  # SQLite readers wait only for a checkpoint, never for a writer
OPERATOR_CONNECT_TIMEOUT = 5  # seconds, PostgreSQL connection attempts of an operator command

Connectable = Session | Connection  # an ORM session or a Core connection, inside a transaction


def chain_of(account: str | None) -> str:
    """The audit chain of an event: its account, else the service's chain."""
    return account if account is not None else SERVICE_CHAIN


def chain_key(chain: str) -> int:
    """A stable signed 64-bit PostgreSQL advisory lock key for one audit chain."""
    digest = hashlib.sha256(f"guard-audit-chain:{chain}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_order(chains: Iterable[str]) -> list[str]:
    """Chains in the one order every transaction takes their locks (accounts, then @service)."""
    return sorted(set(chains), key=lambda chain: (chain == SERVICE_CHAIN, chain))


def is_outage(error: BaseException | None) -> bool:
    """Whether a database error means "unreachable" (the service journals, an operator command
    reports it) rather than a bug (raise)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


class Database:
    """The engine, transactions and migrations every part of the Store shares."""

    def __init__(
        self,
        url: str,
        *,
        write_timeout: float = 30.0,
        unreachable_raises: bool = False,
        pre_ping: bool = True,
        pool_size: int = 5,
    ) -> None:
        """`write_timeout`: how long a SQLite write waits for another writer. With
        `unreachable_raises` (operator commands), a database that cannot be reached raises
        DatabaseUnreachable instead of the driver's error, and a PostgreSQL connection attempt
        gives up after OPERATOR_CONNECT_TIMEOUT seconds unless the URL sets connect_timeout.
        `pool_size`: PostgreSQL connections kept open (at least the service's database threads,
        else a thread's connection is closed at each check-in and opened again)."""
        self.url = url
        self.pool_size = pool_size
        self.is_sqlite = url.startswith("sqlite")
        self.write_timeout = write_timeout
        self.pre_ping = pre_ping  # off: a hung ping cannot be followed by a hung reconnect
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()  # PostgreSQL, for interrupt
        self.engine: Engine = self._make_engine(url, write=True, short_connect=unreachable_raises)
        # reads see the last committed state without the write lock (SQLite WAL snapshot)
        self.read_engine: Engine = (
            self._make_engine(url, write=False) if self.is_sqlite else self.engine
        )
        if unreachable_raises:
            for engine in {self.engine, self.read_engine}:
                event.listen(engine, "handle_error", self._unreachable)
        self._held = threading.local()  # each thread's kept connections (see `kept`)
        self._kept: list[Connection] = []  # every kept connection, closed by dispose
        self._kept_lock = threading.Lock()

    def _unreachable(self, context: ExceptionContext) -> BaseException | None:
        """The handle_error hook: an outage becomes DatabaseUnreachable (a failed pre-ping stays
        as it is, so the pool can still replace a stale connection)."""
        if context.is_pre_ping or not is_outage(context.sqlalchemy_exception):
            return None
        cause = context.original_exception
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0].strip()
        return DatabaseUnreachable(self.where, first[:200])

    def _make_engine(self, url: str, *, write: bool, short_connect: bool = False) -> Engine:
        if not self.is_sqlite:
            if short_connect and "connect_timeout" not in make_url(url).query:
                return create_engine(
                    url,
                    pool_pre_ping=True,
                    connect_args={"connect_timeout": OPERATOR_CONNECT_TIMEOUT},
                )
            engine = create_engine(url, pool_pre_ping=self.pre_ping, pool_size=self.pool_size)
            event.listen(engine, "connect", lambda connection, _: self._connections.add(connection))
            return engine
        wait = self.write_timeout if write else READ_TIMEOUT
        engine = create_engine(url, connect_args={"timeout": wait, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        # IMMEDIATE takes the write lock up front: the audit chain reads its tip and appends in
        # one transaction, and a deferred upgrade could deadlock against another writer. A
        # read-only transaction begins deferred: it never waits for (or blocks) a writer. Sent
        # as the dialect's own BEGIN on the driver connection (SQLAlchemy's failure handling
        # around it, not a whole statement execution per transaction as a "begin" event costs).
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"

        def _do_begin(dbapi_connection: Any) -> None:
            dbapi_connection.execute(begin)

        engine.dialect.do_begin = _do_begin  # type: ignore[method-assign]
        return engine

    def create_schema(self) -> None:
        """Bring the schema to the newest migration (tests and the demo); same as `upgrade`."""
        self.upgrade()

    # ----- migrations ----------------------------------------------------------------------
    @property
    def where(self) -> str:
        """The database URL with any password hidden (for messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    def upgrade(self, revision: str = "head") -> str | None:
        """Run the packaged migrations up to `revision`; returns the revision now current."""
        return migrate.upgrade(self.engine, revision)

    def downgrade(self, revision: str) -> str | None:
        return migrate.downgrade(self.engine, revision)

    def current_revision(self) -> str | None:
        return migrate.current_revision(self.engine)

    @staticmethod
    def head_revision() -> str:
        return migrate.head_revision()

    def require_migrated(self) -> str:
        """Raise SchemaNotReady (saying to run `guard db upgrade`) unless at the head revision."""
        return migrate.require_migrated(self.engine, self.where)

    def interrupt(self) -> int:
        """Cut every open PostgreSQL connection's socket (from any thread): a call hung on a
        server that stopped answering (a blackholed network) fails at once as an outage instead
        of waiting for the OS's TCP timeout. Returns how many were cut; SQLite: none (its waits
        are bounded by busy_timeout)."""
        cut = 0
        for connection in list(self._connections):
            try:
                if connection.closed:
                    continue
                with socket.socket(fileno=os.dup(connection.fileno())) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
                cut += 1
            except (OSError, ValueError, AttributeError):  # already gone
                continue
        return cut

    @contextmanager
    def kept(self, *, write: bool) -> Iterator[Connection]:
        """One transaction (write: on the write engine) on a connection this thread keeps
        between calls (issue 17: the tick's read and write skip the pool's check-out, reset and
        check-in, a third of their CPU). Kept only without pre-ping (SQLite, and the journaled
        store's PostgreSQL, whose outages journal): a store that pre-pings checks a connection
        out per transaction, so a server restart costs no tick. A transaction that fails drops
        its connection (the next one connects afresh, as a check-out would)."""
        if self.pre_ping and not self.is_sqlite:
            with (self.engine if write else self.read_engine).connect() as fresh, fresh.begin():
                yield fresh
            return
        slot = "write" if write or not self.is_sqlite else "read"  # PostgreSQL: one engine
        conn: Connection | None = getattr(self._held, slot, None)
        if conn is None or conn.closed or conn.invalidated:
            conn = (self.engine if write else self.read_engine).connect()
            setattr(self._held, slot, conn)
            with self._kept_lock:
                self._kept = [c for c in self._kept if not c.closed] + [conn]
        try:
            with conn.begin():
                yield conn
        except BaseException:
            setattr(self._held, slot, None)
            with suppress(Exception):  # a dead connection: the pool discards it
                conn.close()
            raise

    def dispose(self) -> None:
        with self._kept_lock:
            kept, self._kept = self._kept, []
        for conn in kept:  # idle between calls; a thread using one next connects afresh
            with suppress(Exception):
                conn.close()
        self.engine.dispose()
        self.read_engine.dispose()

    def reading(self) -> Session:
        """A session for reads only (SQLite: a deferred transaction, no write lock)."""
        return Session(self.read_engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def _serialize(self, session: Connectable, *chains: str, locks: bool = False) -> None:
        """Order this transaction with the lock changes and with the other writers of `chains`.

        SQLite: BEGIN IMMEDIATE already holds the single write lock. PostgreSQL: transaction
        advisory locks, taken before reading locks or leases: the LOCKS key shared (exclusive
        with `locks`: a lock set, clear or expiry, which every account's admissions and egress
        gate read), so an intent admitted or sent after a lock's commit always sees that lock;
        then each chain's own key, in `lock_order`, so a chain's audit ids follow commit order
        and a fence check is ordered with the takeover that audits on the same chain.
        """
        if self.is_sqlite:
            return
        shared = "" if locks else "_shared"
        session.execute(text(f"SELECT pg_advisory_xact_lock{shared}(:key)"), {"key": LOCKS_KEY})
        self._lock_chains(session, chains)

    def _lock_chains(self, session: Connectable, chains: Iterable[str]) -> None:
        """PostgreSQL: take each chain's advisory lock (re-entrant) in `lock_order`."""
        if self.is_sqlite:
            return
        for chain in lock_order(chains):
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": chain_key(chain)})
