# Sourced by the other scripts: make .venv with the project and its test tools installed.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "boiler-agent needs Python 3.11 or newer: '$PYTHON' was not found." >&2
  echo "Install it (Debian: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3." >&2
  exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "boiler-agent needs Python 3.11 or newer; $PYTHON is $("$PYTHON" -V 2>&1)." >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "setting up .venv (first run: a few minutes)..." >&2
  if ! "$PYTHON" -m venv .venv; then
    echo "could not create a virtual environment: install python3-venv (Debian: apt-get install python3-venv)." >&2
    exit 2
  fi
fi
STAMP=.venv/.boiler-agent-installed
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  if ! .venv/bin/python -m pip install --quiet -e ".[test]"; then
    echo "installing boiler-agent and its dependencies failed (see pip's message above)." >&2
    exit 2
  fi
  touch "$STAMP"
fi
