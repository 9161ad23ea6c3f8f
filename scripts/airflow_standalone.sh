#!/usr/bin/env bash
# `make airflow`: Airflow standalone with tradewind's DAGs and plugin against the project's
# warehouse (embedded PostgreSQL unless DATABASE_URL is set). Prints the UI URL and login.
# Options: --port N (default 8080), --no-emulator, --prepare-only, --stop-timeout S.
# Ctrl-C, SIGTERM or SIGHUP stop everything it started; see docs/airflow.md ("Stopping it").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${ROOT}/.venv/bin/python"
if [ ! -x "$PY" ]; then
  echo "no virtualenv at ${ROOT}/.venv: run 'make test' or 'make demo' once first" >&2
  exit 1
fi
cd "$ROOT"
# exec, not a child: signals sent to this pid (or forwarded by make) reach the launcher itself.
exec "$PY" -m tradewind.orchestration.standalone "$@"
