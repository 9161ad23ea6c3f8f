#!/usr/bin/env bash
# One-off: regenerate docs/img/airflow_grid.png, the Airflow grid after a backfill.
# Starts `make airflow` (emulated market data) in a scratch TRADEWIND_HOME, backfills
# ingest_daily_bars over FROM..TO through the REST API, logs in with headless Chromium and takes
# the screenshot. Needs chromium (apt-get install -y chromium) and npm (installs playwright-core
# into the scratch folder).
#   scripts/airflow_screenshot.sh [FROM] [TO]     (default 2024-07-01 2024-07-12)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FROM="${1:-2024-07-01}"
TO="${2:-2024-07-12}"
SCRATCH="${SCREENSHOT_HOME:-/tmp/tradewind-airflow-screenshot}"
PORT="${SCREENSHOT_PORT:-8097}"
export TRADEWIND_HOME="$SCRATCH/home" TRADEWIND_PG_PORT="${SCREENSHOT_PG_PORT:-54381}"
unset DATABASE_URL APCA_API_KEY_ID APCA_API_SECRET_KEY
mkdir -p "$SCRATCH/pw" "$ROOT/docs/img"

[ -d "$SCRATCH/pw/node_modules/playwright-core" ] \
  || npm install --prefix "$SCRATCH/pw" --no-audit --no-fund --silent playwright-core@1

setsid "$ROOT/scripts/airflow_standalone.sh" --port "$PORT" >"$SCRATCH/standalone.log" 2>&1 &
LAUNCHER=$!
# Stop Airflow (the launcher stops its components and the emulator), then the scratch server.
trap 'kill -TERM "$LAUNCHER" 2>/dev/null; wait "$LAUNCHER" 2>/dev/null || true;
      "$ROOT/.venv/bin/tradewind" db down >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/api/v2/monitor/health" >/dev/null && break
  sleep 5
done
PASSWORD="$("$ROOT/.venv/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" \
  "$TRADEWIND_HOME/airflow/passwords.json")"
node "$ROOT/scripts/airflow_screenshot.mjs" "$SCRATCH/pw" "http://127.0.0.1:$PORT" admin \
  "$PASSWORD" "$ROOT/docs/img/airflow_grid.png" "$FROM" "$TO"
