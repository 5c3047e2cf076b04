import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, type EnvSource } from "@reframe/config";
import { describe, expect, it } from "vitest";
import { redisSettingsFromEnv } from "./redis-env.ts";

function issuesOf(env: EnvSource) {
  try {
    redisSettingsFromEnv(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("the Redis variables", () => {
  it("a URL is one node: no replica to wait for unless asked, the braced prefix by default", () => {
    const settings = redisSettingsFromEnv({ REDIS_URL: "redis://:secret@10.0.0.5:6380/2" });
    expect(settings).toMatchObject({
      target: { kind: "single", url: "redis://:secret@10.0.0.5:6380/2" },
      wait: { replicas: 0, timeoutMs: 1000 },
      prefix: "{reframe}",
    });
    expect(redisSettingsFromEnv({ REDIS_URL: "rediss://cache.example.com" })).toMatchObject({
      tls: {},
    });
  });

  it("Sentinels with a master name, their own credentials and TLS", () => {
    const settings = redisSettingsFromEnv({
      REDIS_SENTINELS: "10.0.0.1:26379, 10.0.0.2:26379,[fd00::3]:26379",
      REDIS_SENTINEL_NAME: "mymaster",
      REDIS_PASSWORD: "data-secret",
      REDIS_SENTINEL_PASSWORD: "sentinel-secret",
      REDIS_TLS: "true",
      REDIS_SENTINEL_TLS: "true",
    });
    expect(settings).toMatchObject({
      target: {
        kind: "sentinel",
        name: "mymaster",
        sentinels: [
          { host: "10.0.0.1", port: 26379 },
          { host: "10.0.0.2", port: 26379 },
          { host: "fd00::3", port: 26379 },
        ],
      },
      password: "data-secret",
      sentinelPassword: "sentinel-secret",
      tls: {},
      sentinelTls: {},
      wait: { replicas: "attached" },
    });
  });

  it("Cluster nodes, with a CA file read once", () => {
    const ca = join(tmpdir(), `reframe-ca-${process.pid}.pem`);
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\n…\n");
    const settings = redisSettingsFromEnv({
      REDIS_CLUSTER_NODES: "a:7000,b:7001",
      REDIS_TLS: "yes",
      REDIS_TLS_CA_FILE: ca,
      REDIS_WAIT_REPLICAS: "2",
    });
    expect(settings).toMatchObject({
      target: {
        kind: "cluster",
        nodes: [
          { host: "a", port: 7000 },
          { host: "b", port: 7001 },
        ],
      },
      tls: { ca: "-----BEGIN CERTIFICATE-----\n…\n" },
      wait: { replicas: 2 },
    });
  });

  it("names the variable and the rule for each mistake", () => {
    expect(issuesOf({})).toEqual([
      {
        variable: "REDIS_URL",
        rule: "is required (or REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES)",
      },
    ]);
    expect(issuesOf({ REDIS_URL: "redis://a:1", REDIS_CLUSTER_NODES: "b:2" })).toEqual([
      {
        variable: "REDIS_CLUSTER_NODES",
        rule: "cannot be set together with REDIS_URL: set one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES",
      },
    ]);
    expect(issuesOf({ REDIS_SENTINELS: "a:26379" })).toEqual([
      {
        variable: "REDIS_SENTINEL_NAME",
        rule: "is required with REDIS_SENTINELS (the master name the sentinels monitor)",
      },
    ]);
    expect(issuesOf({ REDIS_URL: "redis://a:1", REDIS_SENTINEL_NAME: "m" })).toEqual([
      { variable: "REDIS_SENTINEL_NAME", rule: "is only used with REDIS_SENTINELS" },
    ]);
    expect(issuesOf({ REDIS_CLUSTER_NODES: "a:7000", QUEUE_PREFIX: "reframe" })).toEqual([
      {
        variable: "QUEUE_PREFIX",
        rule: "must hold a hash tag such as {reframe} with REDIS_CLUSTER_NODES (every reframe key must hash to one Cluster slot)",
      },
    ]);
    expect(issuesOf({ REDIS_URL: "redis://:p@a:1", REDIS_PASSWORD: "q" })).toEqual([
      { variable: "REDIS_PASSWORD", rule: "is also given in REDIS_URL: set the password in one place" },
    ]);
    expect(issuesOf({ REDIS_URL: "redis://a:1", REDIS_TLS_CA_FILE: "/nonexistent/ca.pem" })).toEqual([
      { variable: "REDIS_TLS_CA_FILE", rule: "must be a readable file (the CA certificates, PEM)" },
    ]);
    expect(issuesOf({ REDIS_URL: "http://a:1" })).toEqual([
      { variable: "REDIS_URL", rule: "must be an absolute URL (redis: or rediss:)" },
    ]);
  });

  it.each(["a", "a:", ":7000", "a:0", "a:70000", "a:7000,,b", "a:7000;b:7001", "[::1:7000"])(
    "refuses %j in REDIS_CLUSTER_NODES with the rule",
    (value) => {
      const issues = issuesOf({ REDIS_CLUSTER_NODES: value });
      expect(issues[0]).toEqual({
        variable: "REDIS_CLUSTER_NODES",
        rule: "must be comma-separated host:port pairs, e.g. 10.0.0.1:26379,10.0.0.2:26379",
      });
    },
  );

  it("treats blank variables as unset, as every reframe variable does", () => {
    expect(
      redisSettingsFromEnv({
        REDIS_URL: "redis://a:1",
        REDIS_SENTINELS: "",
        REDIS_SENTINEL_NAME: "",
        REDIS_CLUSTER_NODES: "",
        REDIS_WAIT_REPLICAS: "",
      }).target.kind,
    ).toBe("single");
  });
});
