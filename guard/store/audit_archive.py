"""Archiving old audit rows (database and file I/O): each chain's rows older than a time (never
its last row) go to a gzip JSONL file — a header with every chain's cut, then the rows with their
hashes — fsynced before the rows are deleted in the same transaction; an `audit_archived` event on
@service records each chain's new base (last archived id and hash) and the file's sha256, so
`verify` checks what remains from those bases and the file verifies offline."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from guard.core.audit import AuditEvent, EventKind
from guard.store.audit_chain import GENESIS, HASHED, AuditChain, fields_hash
from guard.store.database import SERVICE_CHAIN
from guard.store.tables import ArchiveCutRow, AuditRow

FORMAT = "guard-audit-archive/1"
# every column of an audit row, in export order
ROW_FIELDS = ("id", "at", "chain", *HASHED[1:], "prev_hash", "hash")


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    path: Path
    rows: int
    chains: dict[str, dict[str, Any]]  # chain -> first_id, last_id, start_prev_hash, last_hash
    sha256: str


@dataclass(frozen=True, slots=True)
class ArchiveCheck:
    """What `verify_archive_file` found."""

    ok: bool
    rows: int
    problem: str = ""


def archive_bases(session: Session) -> dict[str, tuple[int, str]]:
    """Each chain's base after the archives so far: (last archived id, its hash)."""
    bases: dict[str, tuple[int, str]] = {}
    rows = session.exec(
        select(AuditRow.payload)
        .where(AuditRow.kind == EventKind.AUDIT_ARCHIVED.value, AuditRow.chain == SERVICE_CHAIN)
        .order_by(col(AuditRow.id))
    ).all()
    for payload in rows:
        for chain, cut in json.loads(payload).get("chains", {}).items():
            last = (int(cut["last_id"]), str(cut["last_hash"]))
            if chain not in bases or last[0] > bases[chain][0]:
                bases[chain] = last
    return bases


class AuditArchive(AuditChain):
    """`archive_audit` of the Store."""

    def archive_audit(
        self, before: datetime, out: Path, *, actor: str, at: datetime
    ) -> ArchiveResult:
        """Move each chain's rows older than `before` (a prefix of the chain, never its last row)
        to `out`; nothing is deleted unless the file was written and fsynced first."""
        if out.exists():
            raise FileExistsError(f"{out} exists: an archive is never overwritten")
        with self.transaction() as session:
            chains = list(session.exec(select(AuditRow.chain).distinct()).all())
            self._serialize(session, SERVICE_CHAIN, *chains, locks=True)
            cuts = self._cuts(session, before)
            rows = [
                row
                for chain, (first, last) in sorted(cuts.items())
                for row in session.exec(
                    select(AuditRow)
                    .where(AuditRow.chain == chain, col(AuditRow.id) >= first)
                    .where(col(AuditRow.id) <= last)
                    .order_by(col(AuditRow.id))
                ).all()
            ]
            summary = _chain_summary(rows)
            digest = _write(out, before, summary, rows)
            for chain, (first, last) in cuts.items():
                found = session.get(ArchiveCutRow, chain)
                session.add(ArchiveCutRow(chain=chain, last_id=last) if found is None else found)
                if found is not None:
                    found.last_id = last
                session.flush()  # the delete trigger reads the cut
                session.execute(
                    delete(AuditRow).where(
                        col(AuditRow.chain) == chain,
                        col(AuditRow.id) >= first,
                        col(AuditRow.id) <= last,
                    )
                )
            self.append(
                session,
                [
                    AuditEvent(
                        EventKind.AUDIT_ARCHIVED,
                        f"{len(rows)} audit row(s) before {before.isoformat()} of "
                        f"{len(summary)} chain(s) archived to {out.name} (sha256 {digest[:16]})",
                        actor=actor,
                        payload={
                            "before": before.isoformat(),
                            "file": str(out),
                            "sha256": digest,
                            "rows": len(rows),
                            "chains": summary,
                        },
                    )
                ],
                at,
            )
        return ArchiveResult(out, len(rows), summary, digest)

    @staticmethod
    def _cuts(session: Session, before: datetime) -> dict[str, tuple[int, int]]:
        """chain -> (first, last) id to archive: from the chain's first remaining row up to the
        row before its first row at or after `before`, never its last row."""
        cuts: dict[str, tuple[int, int]] = {}
        for chain in session.exec(select(AuditRow.chain).distinct()).all():
            ids = [
                (row_id, when)
                for row_id, when in session.exec(
                    select(AuditRow.id, AuditRow.at)
                    .where(AuditRow.chain == chain)
                    .order_by(col(AuditRow.id))
                ).all()
            ]
            prefix = 0
            while prefix < len(ids) - 1 and ids[prefix][1] < before:
                prefix += 1
            if prefix:
                first, last = ids[0][0], ids[prefix - 1][0]
                assert first is not None and last is not None
                cuts[chain] = (first, last)
        return cuts


def _row_json(row: AuditRow) -> dict[str, Any]:
    data = {name: getattr(row, name) for name in ROW_FIELDS}
    data["at"] = row.at.isoformat()
    return data


def _chain_summary(rows: list[AuditRow]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for row in rows:
        cut = summary.setdefault(
            row.chain, {"first_id": row.id, "start_prev_hash": row.prev_hash, "rows": 0}
        )
        cut["last_id"], cut["last_hash"] = row.id, row.hash
        cut["rows"] += 1
    return summary


def _write(out: Path, before: datetime, summary: dict[str, Any], rows: list[AuditRow]) -> str:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    header = {"format": FORMAT, "before": before.isoformat(), "chains": summary}
    with partial.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:
            zipped.write((json.dumps(header, sort_keys=True) + "\n").encode())
            for row in rows:
                zipped.write((json.dumps(_row_json(row), sort_keys=True) + "\n").encode())
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, out)
    directory = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def verify_archive_file(path: Path) -> ArchiveCheck:
    """Offline: every row's hash from its content and the previous row of its chain, each chain
    starting at the header's start_prev_hash and ending at its last_hash."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            header = json.loads(next(lines))
            if header.get("format") != FORMAT:
                return ArchiveCheck(False, 0, f"{path}: not a {FORMAT} file")
            chains: dict[str, Any] = header["chains"]
            tips = {chain: str(cut["start_prev_hash"]) for chain, cut in chains.items()}
            count = 0
            for number, text in enumerate(lines, start=2):
                row = json.loads(text)
                chain = row["chain"]
                where = f"{path}:{number}: chain {chain} row {row['id']}"
                if chain not in tips or row["prev_hash"] != tips[chain]:
                    return ArchiveCheck(False, count, f"{where}: prev_hash breaks the chain")
                fields = dict(row, at=datetime.fromisoformat(row["at"]))
                if fields_hash(row["prev_hash"], chain, fields) != row["hash"]:
                    return ArchiveCheck(False, count, f"{where}: content does not match its hash")
                tips[chain] = row["hash"]
                count += 1
    except (OSError, EOFError, ValueError, KeyError, StopIteration) as error:
        return ArchiveCheck(False, 0, f"{path}: unreadable archive: {error}")
    for chain, cut in chains.items():
        if tips[chain] != cut["last_hash"]:
            return ArchiveCheck(False, count, f"{path}: chain {chain} does not end at its header")
    return ArchiveCheck(True, count)


__all__ = ["GENESIS", "ArchiveResult", "AuditArchive", "archive_bases", "verify_archive_file"]
