#!/usr/bin/env bash
# `make openapi`: the API's OpenAPI schema from the code (drf-spectacular), as docs/openapi.yaml, or on
# stdout with `-` (tests/api/test_openapi_file.py compares the two). The environment is fixed, so the
# output depends on the code alone: the database URL names PostgreSQL, as deployed (the engine sets the
# integer bounds of model fields; SQLite's differ), and it and Redis point at a closed port, since
# generating connects to nothing: it needs no database and no network.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/openapi.yaml}"
args=(--lang en --validate --fail-on-warn)
if [ "$out" != "-" ]; then
  args+=(--file "$out")
fi
exec env -i PATH="$PATH" LANG=C.UTF-8 PYTHONHASHSEED=0 \
  DATABASE_URL=postgres://openapi@127.0.0.1:1/none REDIS_URL=redis://127.0.0.1:1/0 SECRET_KEY=openapi-only \
  "${PY:-.venv/bin/python}" manage.py spectacular "${args[@]}"
