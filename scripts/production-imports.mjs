// Fails when a production process can reach, through its imports, a package that is for tests only:
// the test servers and fixtures (they would ship in the image and could be started by mistake) and
// the test libraries (not installed by `pnpm install --prod`, so the process would not even start).
// The processes are those of the container image (infra/docker/Dockerfile) and the `reframe` CLI.
// Type-only imports are dropped first (dpdm's transform): they are gone at run time.
import { parseDependencyTree } from "dpdm";

const PROCESSES = [
  "apps/worker/src/main.ts",
  "apps/webhooks/src/main.ts",
  "apps/producer/src/api-main.ts",
  "apps/producer/src/cli.ts",
];
const TEST_ONLY = [
  "@reframe/testkit",
  "@reframe/embedded-s3",
  "@reframe/local-stack",
  "@20minutes/s3rver",
  "s3rver",
  "fast-check",
  "vitest",
];
const TEST_ONLY_PACKAGES = ["packages/testkit/", "packages/embedded-s3/", "packages/local-stack/"];
const testOnly = (request) =>
  TEST_ONLY.some((name) => request === name || request.startsWith(`${name}/`)) ||
  /^@reframe\/[^/]+\/testing$/.test(request);

const tree = await parseDependencyTree(PROCESSES, {
  context: new URL("..", import.meta.url).pathname,
  transform: true,
  skipDynamicImports: false,
  exclude: /node_modules/,
});
// The first importer of each file, to name the chain from the process that reaches it.
const from = new Map();
const queue = [...PROCESSES];
for (const entry of queue) {
  for (const dependency of tree[entry] ?? []) {
    if (dependency.id && !from.has(dependency.id) && !PROCESSES.includes(dependency.id)) {
      from.set(dependency.id, entry);
      queue.push(dependency.id);
    }
  }
}
const chain = (file) => {
  const files = [file];
  while (from.has(files[0])) files.unshift(from.get(files[0]));
  return files.join(" → ");
};
const found = [];
for (const [file, dependencies] of Object.entries(tree)) {
  // Past the first import of a test-only package, its own imports add nothing to the report.
  if (TEST_ONLY_PACKAGES.some((folder) => file.startsWith(folder))) continue;
  for (const dependency of dependencies ?? []) {
    if (testOnly(dependency.request)) found.push(`${chain(file)} imports ${dependency.request}`);
  }
}
for (const line of found) console.error(`production-imports: ${line}`);
if (found.length > 0) process.exit(1);
console.log(`production-imports: ${PROCESSES.length} processes import no test-only package`);
