import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { DEFAULT_PROCESS_METRICS, METRICS } from "@reframe/telemetry";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

/**
 * infra/prometheus's alert rules and infra/grafana's dashboard use only metrics reframe serves (the
 * names map); promtool, where installed (Debian's prometheus package), checks the rules and runs
 * their unit tests.
 */

const INFRA = fileURLToPath(new URL("../../infra/", import.meta.url));
const RULES = `${INFRA}prometheus/reframe-alerts.yml`;

const known = new Set<string>([
  ...Object.values(METRICS).flatMap((spec) =>
    spec.kind === "histogram"
      ? [`${spec.name}_bucket`, `${spec.name}_sum`, `${spec.name}_count`]
      : [spec.name],
  ),
  ...DEFAULT_PROCESS_METRICS,
]);

/** Every name in a PromQL expression that looks like one of ours or a process metric. */
const metricsIn = (expr: string) =>
  [...expr.matchAll(/\b((?:reframe|nodejs|process)_[a-z0-9_]+)\b/g)].map((m) => m[1]!);

interface Rule {
  alert: string;
  expr: string;
  labels?: { severity?: string };
  annotations?: { summary?: string };
}

async function rules(): Promise<Rule[]> {
  const file = parse(await readFile(RULES, "utf8")) as { groups: { rules: Rule[] }[] };
  return file.groups.flatMap((group) => group.rules);
}

function promtool(): string | undefined {
  try {
    execFileSync("promtool", ["--version"], { stdio: "ignore" });
    return "promtool";
  } catch {
    return undefined;
  }
}

describe("infra: alert rules and dashboard", () => {
  it("has the alerts the operators' guide promises, each with a severity and a summary", async () => {
    const byName = new Map((await rules()).map((rule) => [rule.alert, rule]));
    for (const name of [
      "ReframeQueuePaused",
      "ReframeFailureRatioHigh",
      "ReframeReconcilerLagging",
      "ReframeNoWorkerTakingJobs",
      "ReframeSpendNearCeiling",
      "ReframeWebhookRefusalsRising",
      "ReframeProviderUnavailable",
      "ReframeStorageUnavailable",
    ]) {
      expect(byName.get(name)?.labels?.severity, name).toMatch(/^(critical|warning)$/);
      expect(byName.get(name)?.annotations?.summary, name).toBeTruthy();
    }
  });

  it("every metric in the rules and in the Grafana dashboard is one reframe serves", async () => {
    const dashboard = JSON.parse(await readFile(`${INFRA}grafana/reframe-dashboard.json`, "utf8")) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const expressions = [
      ...(await rules()).map((rule) => ({ where: rule.alert, expr: rule.expr })),
      ...dashboard.panels.flatMap((panel) =>
        panel.targets.map((target) => ({ where: panel.title, expr: target.expr })),
      ),
    ];
    expect(expressions.length).toBeGreaterThan(20);
    for (const { where, expr } of expressions) {
      const names = metricsIn(expr);
      expect(names.length, where).toBeGreaterThan(0);
      for (const name of names) expect(known.has(name), `${where}: ${name}`).toBe(true);
    }
  });

  const tool = promtool();
  if (!tool) console.warn("promtool checks skipped: no promtool (apt-get install prometheus)");
  it.skipIf(!tool)("promtool accepts the rules and their unit tests pass", () => {
    execFileSync("promtool", ["check", "rules", RULES], { stdio: "pipe" });
    execFileSync("promtool", ["test", "rules", "reframe-alerts.test.yml"], {
      cwd: `${INFRA}prometheus`,
      stdio: "pipe",
    });
  });
});
