// Fails when the lockfile holds more than one version of a package that must be single: two copies
// of zod make schemas from one fail `instanceof` checks in the other; two of bullmq or ioredis make
// two sets of Lua scripts and connection classes that disagree about the same Redis keys.
import { readFileSync } from "node:fs";

const SINGLE = ["zod", "bullmq", "ioredis", "sharp", "@opentelemetry/api"];
const lock = readFileSync(new URL("../pnpm-lock.yaml", import.meta.url), "utf8");
const packages = lock.slice(lock.indexOf("\npackages:\n"), lock.indexOf("\nsnapshots:\n"));
const versions = new Map(SINGLE.map((name) => [name, new Set()]));
for (const match of packages.matchAll(/^ {2}'?((?:@[^/@\s]+\/)?[^@\s']+)@([^(:'\s]+)/gm)) {
  versions.get(match[1])?.add(match[2]);
}
let copies = 0;
for (const [name, found] of versions) {
  if (found.size === 0) {
    console.error(
      `single-copies: ${name} is not in pnpm-lock.yaml; update the list in scripts/single-copies.mjs`,
    );
    copies++;
  } else if (found.size > 1) {
    console.error(`single-copies: ${name} must have one version, the lockfile has ${[...found].join(", ")}`);
    copies++;
  }
}
if (copies > 0) process.exit(1);
console.log(`single-copies: one version each of ${SINGLE.join(", ")}`);
