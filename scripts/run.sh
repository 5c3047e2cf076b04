#!/usr/bin/env bash
# Every command of the README that needs the project's Node 24, pnpm or dependencies lands here:
# `npm run <script>` (npm is on every machine's PATH) and the `./reframe` launcher. Bootstrap finds or
# installs what is missing under .tools/ (seconds when all is there), then the command runs with
# the project's Node 24 and pnpm first on PATH, whatever the terminal's PATH holds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-}"
[ $# -gt 0 ] && shift
case "$MODE" in
  # These connect to a Redis given by REDIS_URL (or run none): no redis-server is installed for them.
  reframe | worker | webhooks | api | emulator | typecheck | lint | format | guards) export REFRAME_NEEDS_REDIS=no ;;
esac
source "$ROOT/scripts/bootstrap.sh"
case "$MODE" in
  # The CLI stays in the caller's directory: its paths (--manifest, --report) are the user's.
  # Run as the executable it is: its first line holds the CLI's Node flags.
  reframe) exec "$ROOT/apps/producer/src/cli.ts" "$@" ;;
esac
cd "$ROOT"
case "$MODE" in
  demo) exec node apps/demo/src/main.ts "$@" ;;
  test) ensure_test_tools; exec pnpm run --silent check "$@" ;;
  bench) exec node test/bench/main.ts "$@" ;;
  chaos) exec node test/chaos/main.ts "$@" ;;
  e2e) exec pnpm exec vitest run --config test/vitest.config.ts "$@" ;;
  vitest) exec pnpm exec vitest run "$@" ;;
  typecheck) exec pnpm exec tsc --noEmit -p tsconfig.json "$@" ;;
  lint) exec pnpm exec biome ci . "$@" ;;
  format) exec pnpm exec biome check --write . "$@" ;;
  emulator) exec node apps/emulator/src/main.ts "$@" ;;
  webhooks) exec node apps/webhooks/src/main.ts "$@" ;;
  # The worker's heap budget, as in the container image, Compose and Kubernetes (README: Running the parts).
  # And glibc's allocator settings of the image (docs/source-images.md), unless the caller set them.
  worker) exec env MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-131072}" \
    MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-131072}" \
    node --max-semi-space-size=4 --max-old-space-size=384 apps/worker/src/main.ts "$@" ;;
  api) exec node apps/producer/src/api-main.ts "$@" ;;
  # What CI keeps out: unused files, exports and dependencies (knip), import cycles (dpdm), a
  # second version of a package that must be single (scripts/single-copies.mjs), and a test-only
  # package reachable from a production process (scripts/production-imports.mjs).
  guards)
    pnpm exec knip --no-progress
    pnpm run --silent cycles
    node scripts/single-copies.mjs
    node scripts/production-imports.mjs
    ;;
  setup) exit 0 ;;
  *)
    echo "usage: scripts/run.sh demo|test|bench|chaos|e2e|vitest|typecheck|lint|format|guards|emulator|webhooks|worker|api|reframe|setup" >&2
    exit 2
    ;;
esac
