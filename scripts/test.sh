#!/usr/bin/env bash
# The whole test suite: type check, lint (ESLint, and Prettier's layout), then every test
# (unit, store on SQLite and PostgreSQL, API in process, end-to-end on real PostgreSQL
# clusters and pgBackRest).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
npx eslint .
npx prettier --check . --log-level warn
npx vitest run "$@"
