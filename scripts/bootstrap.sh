#!/usr/bin/env bash
# Installs what reframe needs on a fresh Debian/Ubuntu machine that has only Node (>= 20) and npm:
# Node 24 (project-local, from the npm registry's node-linux-<arch> package, when the system Node is
# older), pnpm (pinned), dependencies (frozen lockfile) and, where none is reachable, redis-server.
# Sourced by scripts/run.sh; everything it installs stays under .tools/ except redis-server (apt).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
NODE_MAJOR=24
PNPM_VERSION="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$ROOT/package.json")"

# npm passes its own config to child processes as npm_config_*; pnpm would read it as its own.
while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\(npm_config_[^=]*\)=.*/\1/p')

say() { printf '[setup] %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  local system_node
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
  if [ ! -x "$dir/node_modules/$pkg/bin/node" ]; then
    command -v npm >/dev/null || { say "npm is needed to install Node $NODE_MAJOR"; exit 1; }
    say "installing Node $NODE_MAJOR into .tools/ (system Node is older)"
    npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$dir" "$pkg@$NODE_MAJOR" >&2
  fi
  export PATH="$dir/node_modules/$pkg/bin:$PATH"
}

ensure_pnpm() {
  local dir="$TOOLS/pnpm-$PNPM_VERSION"
  if [ ! -f "$dir/package/bin/pnpm.cjs" ]; then
    say "installing pnpm $PNPM_VERSION into .tools/"
    fetch_pnpm "$dir"
  fi
  mkdir -p "$TOOLS/bin"
  printf '#!/usr/bin/env bash\nexec node "%s" "$@"\n' "$dir/package/bin/pnpm.cjs" >"$TOOLS/bin/pnpm"
  chmod +x "$TOOLS/bin/pnpm"
  export PATH="$TOOLS/bin:$PATH"
}

# The pinned tarball straight from the registry, checked against the registry's integrity hash:
# `npm install pnpm` first downloads pnpm's whole version list (tens of MB), minutes on a slow link.
fetch_pnpm() {
  local dir="$1" registry
  registry="$(npm config get registry 2>/dev/null || true)"
  mkdir -p "$dir"
  node --input-type=module - "${registry:-https://registry.npmjs.org/}" "$PNPM_VERSION" "$dir/pnpm.tgz" <<'JS' >&2
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
const [registry, version, file] = process.argv.slice(2);
const base = registry.endsWith("/") ? registry : `${registry}/`;
const meta = await fetch(`${base}pnpm/${version}`).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`pnpm ${version}: HTTP ${r.status}`))));
const bytes = Buffer.from(await fetch(meta.dist.tarball).then((r) => r.arrayBuffer()));
const [algorithm, expected] = meta.dist.integrity.split("-");
if (createHash(algorithm).update(bytes).digest("base64") !== expected) throw new Error(`pnpm ${version}: integrity mismatch`);
writeFileSync(file, bytes);
JS
  tar -xzf "$dir/pnpm.tgz" -C "$dir"
  rm -f "$dir/pnpm.tgz"
}

ensure_dependencies() {
  local stamp="$ROOT/node_modules/.reframe-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$ROOT/pnpm-lock.yaml"; then return; fi
  say "installing dependencies (frozen lockfile)"
  (cd "$ROOT" && pnpm install --frozen-lockfile --reporter=silent) >&2
  cp "$ROOT/pnpm-lock.yaml" "$stamp"
}

# Redis: REDIS_URL wins; else a redis-server on PATH (started later by the harness on a free port);
# else apt-get when root on Debian/Ubuntu; else say how to get one.
ensure_redis() {
  if [ -n "${REDIS_URL:-}" ] || command -v redis-server >/dev/null; then return; fi
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

# turbo would otherwise try to send anonymous telemetry from every run.
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
ensure_node
ensure_pnpm
ensure_dependencies
ensure_redis
