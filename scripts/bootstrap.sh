#!/usr/bin/env bash
# Installs what reframe needs on a fresh Debian/Ubuntu machine that has only Node (>= 20) and npm:
# Node 24 (project-local, from the npm registry's node-linux-<arch> package, when the system Node is
# older; fetched by scripts/fetch-package.mjs), pnpm (pinned), dependencies (frozen lockfile) and, where none is reachable, redis-server.
# Sourced by scripts/run.sh; everything it installs stays under .tools/ except redis-server (apt).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
NODE_MAJOR=24
PNPM_VERSION="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$ROOT/package.json")"

# npm passes its own config to child processes as npm_config_*; pnpm would read it as its own.
while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\(npm_config_[^=]*\)=.*/\1/p')

say() { printf '[setup] %s\n' "$*" >&2; }

# Node's fetch trusts only the CAs bundled with Node; where traffic passes a TLS proxy the system's
# bundle knows its CA (npm and curl already use it).
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

# A package from the registry into <dir>/package: a direct, integrity-checked download (seconds),
# else `npm install` (minutes, but it knows every proxy and registry setting npm was given).
fetch_package() {
  local name="$1" version="$2" dir="$3"
  if node "$ROOT/scripts/fetch-package.mjs" "$name" "$version" "$dir" >/dev/null; then return; fi
  say "direct download of $name failed; trying npm install"
  rm -rf "$dir"
  npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$dir/npm" "$name@$version" >&2
  mv "$dir/npm/node_modules/$name" "$dir/package"
  rm -rf "$dir/npm"
}

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  local system_node
  # Installed before because the system's Node was older: use it without asking the system's again
  # (every ./reframe and npm run goes through here).
  if [ -x "$TOOLS/node$NODE_MAJOR/package/bin/node" ]; then
    export PATH="$TOOLS/node$NODE_MAJOR/package/bin:$PATH"
    return
  fi
  system_node="$(command -v node || true)"
  if [ -n "$system_node" ] && [ "$(node_major "$system_node")" -ge "$NODE_MAJOR" ]; then
    return
  fi
  local arch pkg dir
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) say "unsupported CPU $(uname -m): install Node $NODE_MAJOR yourself"; exit 1 ;;
  esac
  pkg="node-linux-$arch"
  dir="$TOOLS/node$NODE_MAJOR"
  if [ ! -x "$dir/package/bin/node" ]; then
    say "installing Node $NODE_MAJOR into .tools/ (system Node is older)"
    fetch_package "$pkg" "$NODE_MAJOR" "$dir"
  fi
  export PATH="$dir/package/bin:$PATH"
}

ensure_pnpm() {
  local dir="$TOOLS/pnpm-$PNPM_VERSION"
  if [ ! -f "$dir/package/bin/pnpm.cjs" ]; then
    say "installing pnpm $PNPM_VERSION into .tools/"
    fetch_package pnpm "$PNPM_VERSION" "$dir"
  fi
  mkdir -p "$TOOLS/bin"
  # The physical path: a checkout reached through a symbolic link (the README test's copy) must not
  # leave a wrapper that points into it. Written only when it changes, in one move: commands run in
  # parallel read it.
  local wrapper
  wrapper="$(printf '#!/usr/bin/env bash\nexec node "%s" "$@"' "$(cd "$dir/package/bin" && pwd -P)/pnpm.cjs")"
  if [ "$(cat "$TOOLS/bin/pnpm" 2>/dev/null)" != "$wrapper" ]; then
    printf '%s\n' "$wrapper" >"$TOOLS/bin/pnpm.$$"
    chmod +x "$TOOLS/bin/pnpm.$$"
    mv -f "$TOOLS/bin/pnpm.$$" "$TOOLS/bin/pnpm"
  fi
  export PATH="$TOOLS/bin:$PATH"
}

ensure_dependencies() {
  local stamp="$ROOT/node_modules/.reframe-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$ROOT/pnpm-lock.yaml"; then return; fi
  say "installing dependencies (frozen lockfile)"
  (cd "$ROOT" && pnpm install --frozen-lockfile --reporter=silent) >&2
  cp "$ROOT/pnpm-lock.yaml" "$stamp"
}

# Redis: the caller's (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES) wins; else a redis-server
# on PATH (started later by the harness on a free port); else apt-get when root on Debian/Ubuntu;
# else say how to get one.
ensure_redis() {
  if [ -n "${REDIS_URL:-}${REDIS_SENTINELS:-}${REDIS_CLUSTER_NODES:-}" ] || command -v redis-server >/dev/null; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing redis-server from the distribution's packages"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
    # The package starts a system service on 6379; reframe starts its own on a free port.
    (systemctl disable --now redis-server 2>/dev/null || service redis-server stop 2>/dev/null || true) >&2
    return
  fi
  say "Redis is needed: set REDIS_URL=redis://host:port, or install redis-server (apt-get install redis-server, brew install redis)."
  exit 1
}

# The test suite's browser (the dashboard tests drive Debian's chromium) and promtool (the alert
# rules' checks): installed when root on Debian/Ubuntu, as redis-server is; elsewhere those tests
# skip with a message. Only `npm test` asks for them.
ensure_test_tools() {
  local missing=()
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
  command -v promtool >/dev/null || missing+=(prometheus)
  if [ ${#missing[@]} -eq 0 ]; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} from the distribution's packages (dashboard browser tests, alert-rule checks)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >&2 ||
      say "could not install ${missing[*]}: the tests that need them will be skipped"
    # The prometheus package may start a server on 9090; the tests need only promtool.
    (systemctl disable --now prometheus 2>/dev/null || service prometheus stop 2>/dev/null || true) >&2
    return
  fi
  say "not installing ${missing[*]} (needs root and apt-get): the tests that need them will be skipped"
}

# turbo would otherwise try to send anonymous telemetry from every run.
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
ensure_node
ensure_pnpm
ensure_dependencies
# The CLI and the processes connect to the Redis of REDIS_URL; only tests, the demo and benchmarks
# start their own (scripts/run.sh says which).
if [ "${REFRAME_NEEDS_REDIS:-yes}" != no ]; then ensure_redis; fi
