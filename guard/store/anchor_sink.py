"""The audit anchors' copy outside the database (file I/O): each anchor appended as one JSON line
(id, time, digest, every chain's tip) and fsynced, so a database rewritten wholesale — chains and
anchors recomputed — no longer matches the copy; `check_anchor_file` compares the two."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from guard.store.audit_chain import StoredEvent


def append_anchor(path: Path, anchor: StoredEvent) -> None:
    """Append `anchor` to `path` (created with its folder) and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {
            "id": anchor.id,
            "at": anchor.at.isoformat(),
            "hash": anchor.hash,
            "digest": anchor.payload.get("digest"),
            "chains": anchor.payload.get("chains"),
        },
        sort_keys=True,
    )
    with path.open("a", encoding="utf-8") as sink:
        sink.write(line + "\n")
        sink.flush()
        os.fsync(sink.fileno())


def check_anchor_file(path: Path, anchors: Iterable[StoredEvent]) -> list[str]:
    """Problems between the file's anchors and the database's `anchor` rows: an anchor in the
    file that the database lacks or holds with another hash or digest (a torn last line, from a
    crash while appending, is ignored)."""
    stored = {a.id: a for a in anchors}
    problems: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, text in enumerate(lines, start=1):
        try:
            copy = json.loads(text)
        except ValueError:
            if number == len(lines):
                continue  # torn by a crash mid-append
            problems.append(f"{path}:{number}: not JSON")
            continue
        found = stored.get(int(copy["id"]))
        if found is None:
            problems.append(f"{path}:{number}: anchor #{copy['id']} is not in the database")
        elif found.hash != copy["hash"] or found.payload.get("digest") != copy["digest"]:
            problems.append(
                f"{path}:{number}: anchor #{copy['id']} differs in the database (hash or digest "
                "rewritten)"
            )
    return problems
