import { describe, expect, it } from "vitest";
import { z } from "zod";
import { envField } from "./env.ts";
import { ConfigError, parseEnv } from "./parse-env.ts";

const schema = z.object({
  PORT: envField.int({ min: 1, max: 65535, default: 8080 }),
  API_KEY: envField.string(),
  VERBOSE: envField.boolean(false),
  BASE_URL: envField.url({ default: "http://localhost:1" }),
  KEYS: envField.list(["a"]),
  DROP_RATE: envField.rate(0),
  FORMAT: envField.enum(["json", "pretty"], "json"),
});

function issuesOf(env: Record<string, string>) {
  try {
    parseEnv(schema, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("parseEnv", () => {
  it("applies defaults when variables are unset or empty", () => {
    expect(parseEnv(schema, { API_KEY: "k", PORT: "" })).toEqual({
      PORT: 8080,
      API_KEY: "k",
      VERBOSE: false,
      BASE_URL: "http://localhost:1",
      KEYS: ["a"],
      DROP_RATE: 0,
      FORMAT: "json",
    });
  });

  it("converts values to their types", () => {
    const config = parseEnv(schema, {
      API_KEY: "k",
      PORT: "9000",
      VERBOSE: "yes",
      KEYS: "x, y ,,z",
      DROP_RATE: "0.25",
      FORMAT: "pretty",
    });
    expect(config).toMatchObject({ PORT: 9000, VERBOSE: true, KEYS: ["x", "y", "z"], DROP_RATE: 0.25 });
  });

  it("a missing required variable is named as required", () => {
    expect(issuesOf({})).toEqual([{ variable: "API_KEY", rule: "is required" }]);
  });

  it("each malformed variable is named with its rule", () => {
    const issues = issuesOf({
      API_KEY: "k",
      PORT: "70000",
      VERBOSE: "maybe",
      BASE_URL: "ftp://x",
      DROP_RATE: "1.5",
      FORMAT: "xml",
    });
    expect(issues).toEqual([
      { variable: "PORT", rule: "must be an integer from 1 to 65535" },
      { variable: "VERBOSE", rule: "must be one of true, false, 1, 0, yes, no, on, off" },
      { variable: "BASE_URL", rule: "must be an absolute URL (http: or https:)" },
      { variable: "DROP_RATE", rule: "must be a number from 0 to 1" },
      { variable: "FORMAT", rule: "must be one of json, pretty" },
    ]);
  });

  it("the error message lists one line per variable without a stack in the text", () => {
    expect(() => parseEnv(schema, { PORT: "x" })).toThrowError(
      /invalid configuration:\n {2}PORT: must be an integer from 1 to 65535\n {2}API_KEY: is required/,
    );
  });
});

describe("envField.decimal", () => {
  const money = z.object({ LIMIT: envField.decimal({ min: 0.01 }) });
  it("reads an amount, leaves an unset one undefined, and names the rule of a bad one", () => {
    expect(parseEnv(money, { LIMIT: "12.50" })).toEqual({ LIMIT: 12.5 });
    expect(parseEnv(money, { LIMIT: "" })).toEqual({ LIMIT: undefined });
    for (const LIMIT of ["0", "-1", "ten", "1e3"]) {
      expect(() => parseEnv(money, { LIMIT })).toThrowError(
        `LIMIT: must be a number from 0.01 to ${Number.MAX_SAFE_INTEGER}`,
      );
    }
  });
});
