#!/usr/bin/env bash
# `make run`: migrate, load the demo, serve. Embedded (SQLite, jobs in-process) unless DATABASE_URL and
# REDIS_URL are set; then a Celery worker and beat run beside the web server. Ctrl-C stops all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DEBUG="${DEBUG:-1}"
PORT="${PORT:-8000}"

$PY manage.py migrate --no-input
if [ "${DEMO:-1}" != "0" ]; then
  $PY manage.py load_demo
else
  echo "DEMO=0: no demo questionnaires or accounts loaded."
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

if [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ]; then
  mkdir -p .data
  .venv/bin/celery -A config worker --loglevel=INFO --concurrency=2 &
  pids+=($!)
  .venv/bin/celery -A config beat --loglevel=INFO --schedule=.data/celerybeat-schedule &
  pids+=($!)
  echo "PostgreSQL and Redis configured: Celery worker and beat started."
else
  # In-process jobs: this process plays the worker, so it makes the staging keys itself.
  $PY manage.py pool_keys_replenish
  echo "Embedded mode: SQLite in .data/, jobs run in-process."
  # A first look without an authenticator app: staff MFA is off here (and refused outside DEBUG).
  export STAFF_MFA_REQUIRED="${STAFF_MFA_REQUIRED:-0}"
  echo "Staff two-factor authentication is OFF for this local demo (STAFF_MFA_REQUIRED=1 turns it on)."
fi
echo "Serving on http://127.0.0.1:${PORT}/"
$PY manage.py runserver "127.0.0.1:${PORT}" &
pids+=($!)
wait -n "${pids[@]}"
