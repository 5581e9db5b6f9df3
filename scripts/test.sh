#!/usr/bin/env bash
# The whole test suite: type check, lint (ESLint, and Prettier's layout), then every test
# (unit, store on SQLite and PostgreSQL, API in process, end-to-end on real PostgreSQL
# clusters and pgBackRest). The three checks are independent and run at once (about 30 s one
# after another on 2 cores, issue 14's suite budget); any of them failing fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit &
tsc=$!
npx eslint . &
eslint=$!
npx prettier --check . --log-level warn &
prettier=$!
failed=()
wait "$tsc" || failed+=(tsc)
wait "$eslint" || failed+=(eslint)
wait "$prettier" || failed+=(prettier)
if [ "${#failed[@]}" -gt 0 ]; then
  echo "test.sh: failed: ${failed[*]}" >&2
  exit 1
fi
npx vitest run "$@"
