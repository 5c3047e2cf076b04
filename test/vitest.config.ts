import { defineConfig } from "vitest/config";

// Cross-app suites start real processes (redis-server, the emulator, workers): run files one at a
// time so two suites never fight for the machine's two cores, and give process start-up room.
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ["**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
