"""Verification of the audit log: every chain's links and hashes, and every anchor's tips."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlmodel import col, select

from guard.core.audit import EventKind
from guard.store.audit_archive import archive_bases
from guard.store.audit_chain import GENESIS, AuditChain, anchor_digest, row_hash
from guard.store.database import SERVICE_CHAIN
from guard.store.tables import AuditRow

LOOKUP_BATCH = 500


@dataclass(frozen=True, slots=True)
class Verdict:
    """What `verify_audit` found: intact, or the first problem (its chain and row)."""

    ok: bool
    rows: int
    chains: int
    anchors: int
    bad_id: int | None = None
    chain: str | None = None
    problem: str = ""

    @property
    def summary(self) -> str:
        counted = f"{self.rows} rows in {self.chains} chain(s), {self.anchors} anchor(s) checked"
        return f"{counted}, intact" if self.ok else f"{self.problem} ({counted})"


@dataclass(slots=True)
class _Tip:
    id: int = 0
    hash: str = GENESIS
    rows: int = 0


@dataclass(slots=True)
class _Pass:
    tips: dict[str, _Tip] = field(default_factory=dict)
    rows: int = 0
    anchors: int = 0
    # (chain, anchored row id, its hash) -> the first anchor that recorded it
    anchored: dict[tuple[str, int, str], int] = field(default_factory=dict)


class AuditVerify(AuditChain):
    """`verify_audit` / `verify_chain` of the Store."""

    def verify_chain(self) -> tuple[bool, int | None, str]:
        """(True, None, summary) when intact; else (False, the row named, what is wrong)."""
        verdict = self.verify_audit()
        return verdict.ok, verdict.bad_id, verdict.summary

    def verify_audit(self) -> Verdict:
        """Check every chain's links and hashes in id order, then every anchor's tips: a row
        edited, a row deleted inside a chain, a chain's tail cut off below an anchored tip, or
        a whole chain deleted after an anchor is reported with its chain and row."""
        state = _Pass()
        with self.reading() as session:
            bases = archive_bases(session)
            state.tips = {
                chain: _Tip(last_id, digest) for chain, (last_id, digest) in bases.items()
            }
            for row in session.exec(select(AuditRow).order_by(col(AuditRow.id))):
                problem = _check_row(state, row)
                if problem is not None:
                    return self._broken(state, row.chain, row.id, problem)
            for chain, (last_id, _digest) in sorted(bases.items()):
                if state.tips[chain].id == last_id:  # an archive always keeps a chain's last row
                    return self._broken(
                        state,
                        chain,
                        last_id,
                        f"chain {chain}: every row after the archive's cut at row {last_id} is "
                        "gone (an archive keeps each chain's last row)",
                    )
            for batch in _batches(sorted({key[1] for key in state.anchored}), LOOKUP_BATCH):
                wanted = set(batch)
                found = {
                    row_id: (chain, digest)
                    for row_id, chain, digest in session.exec(
                        select(AuditRow.id, AuditRow.chain, AuditRow.hash).where(
                            col(AuditRow.id).in_(batch)
                        )
                    ).all()
                }
                for (chain, row_id, digest), anchor_id in sorted(state.anchored.items()):
                    if row_id not in wanted or found.get(row_id) == (chain, digest):
                        continue
                    if chain in bases and row_id <= bases[chain][0]:
                        continue  # archived: the archive file verifies it (verify_archive_file)
                    return self._broken(
                        state, chain, row_id, _anchor_problem(state, chain, row_id, anchor_id)
                    )
        return Verdict(True, state.rows, len(state.tips), state.anchors)

    @staticmethod
    def _broken(state: _Pass, chain: str, row_id: int | None, problem: str) -> Verdict:
        return Verdict(False, state.rows, len(state.tips), state.anchors, row_id, chain, problem)


def _check_row(state: _Pass, row: AuditRow) -> str | None:
    assert row.id is not None
    tip = state.tips.get(row.chain) or _Tip()
    where = f"chain {row.chain}: row {row.id}"
    if row.prev_hash != tip.hash:
        before = f"row {tip.id}'s hash" if tip.id else "the chain's start (genesis)"
        return (
            f"{where}: its prev_hash does not match {before} "
            "(a row before it on this chain was deleted or edited)"
        )
    if row_hash(tip.hash, row) != row.hash:
        return f"{where}: its content does not match its hash (edited)"
    state.tips[row.chain] = _Tip(row.id, row.hash, tip.rows + 1)
    state.rows += 1
    if row.kind == EventKind.ANCHOR.value and row.chain == SERVICE_CHAIN:
        state.anchors += 1
        payload = json.loads(row.payload)
        tips = payload.get("chains")
        if not isinstance(tips, dict) or anchor_digest(tips) != payload.get("digest"):
            return f"{where}: anchor whose tips do not match its digest"
        for chain, tip_row in tips.items():
            key = (chain, int(tip_row["id"]), str(tip_row["hash"]))
            state.anchored.setdefault(key, row.id)
    return None


def _anchor_problem(state: _Pass, chain: str, row_id: int, anchor_id: int) -> str:
    where = f"chain {chain}: row {row_id}"
    if chain not in state.tips:
        return (
            f"{where}: the whole chain is gone, deleted after anchor #{anchor_id} recorded "
            f"its tip at row {row_id}"
        )
    last = state.tips[chain].id
    if last < row_id:
        return (
            f"{where}: anchored as the chain's tip by anchor #{anchor_id}, but the chain now "
            f"ends at row {last} (its tail was cut off)"
        )
    return f"{where}: missing or not the row anchor #{anchor_id} recorded (deleted or replaced)"


def _batches(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
