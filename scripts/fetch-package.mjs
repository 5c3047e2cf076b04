// Fetches one package from the npm registry into a directory (`<dir>/package/...`), checked against
// the registry's integrity hash. Used by bootstrap.sh for Node 24 and pnpm: `npm install` of either
// takes minutes here (the client, not the download: the tarballs arrive in well under a second).
// Plain JavaScript, so that the system's older Node (>= 20) can run it.
//
//   node scripts/fetch-package.mjs <name> <major | exact version> <dir>
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [name, wanted, dir] = process.argv.slice(2);
if (!name || !wanted || !dir) throw new Error("usage: fetch-package.mjs <name> <major|version> <dir>");

function registryUrl() {
  try {
    const configured = execFileSync("npm", ["config", "get", "registry"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    if (/^https?:\/\//.test(configured)) return configured.endsWith("/") ? configured : `${configured}/`;
  } catch {}
  return "https://registry.npmjs.org/";
}

async function getJson(url, accept) {
  const response = await fetch(url, { headers: accept ? { accept } : {} });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

const numeric = (version) => version.split(".").map(Number);
const newer = (a, b) => {
  const [x, y] = [numeric(a), numeric(b)];
  for (let i = 0; i < 3; i += 1) if (x[i] !== y[i]) return x[i] > y[i];
  return false;
};

const registry = registryUrl();
let version = wanted;
if (/^\d+$/.test(wanted)) {
  const packument = await getJson(`${registry}${name}`, "application/vnd.npm.install-v1+json");
  const candidates = Object.keys(packument.versions).filter(
    (v) => /^\d+\.\d+\.\d+$/.test(v) && v.startsWith(`${wanted}.`),
  );
  if (candidates.length === 0) throw new Error(`${name}: no release ${wanted}.x`);
  version = candidates.reduce((best, v) => (newer(v, best) ? v : best));
}
const meta = await getJson(`${registry}${name}/${version}`);
const bytes = Buffer.from(await (await fetch(meta.dist.tarball)).arrayBuffer());
const [algorithm, expected] = meta.dist.integrity.split("-");
if (createHash(algorithm).update(bytes).digest("base64") !== expected)
  throw new Error(`${name}@${version}: integrity mismatch`);
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const tarball = join(dir, "package.tgz");
writeFileSync(tarball, bytes);
execFileSync("tar", ["-xzf", tarball, "-C", dir]);
rmSync(tarball);
process.stdout.write(`${version}\n`);
