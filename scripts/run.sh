#!/usr/bin/env bash
# Entry point of the README's quick start: `npm run demo` and `npm test` land here.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
case "${1:-}" in
  demo) shift; exec node apps/demo/src/main.ts "$@" ;;
  test) shift; ensure_test_tools; exec pnpm run --silent check "$@" ;;
  bench) shift; exec node test/bench/main.ts "$@" ;;
  setup) exit 0 ;;
  *) echo "usage: scripts/run.sh demo|test|bench|setup" >&2; exit 2 ;;
esac
