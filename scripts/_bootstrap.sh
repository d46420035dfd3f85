# Sourced by scripts/demo, scripts/test and scripts/bench: create .venv if missing and install
# the project with its dev and lab extras against constraints.txt. Idempotent: a stamp holding the hash
# of pyproject.toml and constraints.txt skips the install when nothing changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${GUARD_PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "guard: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.guard-install-stamp"
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "guard: installing the project and its pinned dependencies into .venv" >&2
  LOG="$VENV/install.log"
  if ! { "$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade "pip>=24" &&
         "$VENV/bin/python" -m pip install --disable-pip-version-check \
           -c "$ROOT/constraints.txt" -e "$ROOT[dev,lab]"; } > "$LOG" 2>&1; then
    grep -v "^WARNING: Location" "$LOG" | tail -40 >&2
    echo "guard: install failed; full log in $LOG" >&2
    exit 1
  fi
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
