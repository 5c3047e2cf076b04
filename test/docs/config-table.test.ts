import { readFile } from "node:fs/promises";
import { emulatorConfigSchema } from "@reframe/emulator";
import { apiConfigSchema, bulkConfigSchema, producerConfigSchema } from "@reframe/producer";
import { webhooksConfigSchema } from "@reframe/webhooks";
import { workerConfigSchema } from "@reframe/worker";
import { describe, expect, it } from "vitest";

/** The README promises one table with every variable; this keeps the promise when a schema grows. */
const tableVariables = (markdown: string) =>
  new Set([...markdown.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]));

describe("the configuration tables", () => {
  it("the README lists every variable of the worker, the webhook receiver, the CLI and the API", async () => {
    const readme = tableVariables(await readFile(new URL("../../README.md", import.meta.url), "utf8"));
    const variables = [
      workerConfigSchema,
      webhooksConfigSchema,
      producerConfigSchema,
      bulkConfigSchema,
      apiConfigSchema,
    ].flatMap((schema) => Object.keys(schema.shape));
    expect(variables.filter((name) => !readme.has(name))).toEqual([]);
  });

  it("the emulator's README lists every EMULATOR_ variable", async () => {
    const readme = tableVariables(
      await readFile(new URL("../../apps/emulator/README.md", import.meta.url), "utf8"),
    );
    const variables = Object.keys(emulatorConfigSchema.shape).filter((name) => name.startsWith("EMULATOR_"));
    expect(variables.filter((name) => !readme.has(name))).toEqual([]);
  });
});
