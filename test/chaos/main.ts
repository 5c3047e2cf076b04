import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { REDIS_TOPOLOGIES, type RedisTopologyKind } from "@reframe/testkit";
import { formatReport, violations } from "./chaos-report.ts";
import { REDIS_FAULTS, runChaos } from "./chaos-run.ts";
import { formatOutboundReport, outboundViolations, runOutboundChaos } from "./outbound-run.ts";

/**
 * `pnpm test:chaos [--jobs 2000] [--seed N] [--redis single|sentinel|cluster]`: the fault-injection
 * run (`--redis sentinel` or `cluster` fails Redis over instead of restarting it);
 * `pnpm test:chaos --provider-outage 3m [--jobs 200]`: instead, the provider answers every request 503
 * for that long in the middle of the run (no job may fail for it; requests bounded by the probes);
 * `pnpm test:chaos --s3-outage 10m [--jobs 300]`: instead, S3 is out for that long (likewise);
 * `--deadline-s N` sets the jobs' `deadlineSeconds` (an outage run's default: 15 minutes, or the
 * outage and 10 minutes more when that is longer; the fault-injection run's: 60);
 * `pnpm test:chaos --outbound [--events 2000] [--seed N]`: the outbound webhooks' run. Each prints
 * its table and exits 1 when any must-be-zero figure is not zero (2 when the run could not be made).
 */

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "2000" },
    outbound: { type: "boolean" },
    events: { type: "string", default: "2000" },
    seed: { type: "string" },
    "drain-timeout-s": { type: "string", default: "900" },
    redis: { type: "string", default: "single" },
    "provider-outage": { type: "string" },
    "s3-outage": { type: "string" },
    "deadline-s": { type: "string" },
  },
});
const durationOf = (flag: "provider-outage" | "s3-outage") => {
  const text = values[flag];
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms !== null) return ms;
  console.error(`--${flag} must be a duration such as 30s, 3m or 1h, got ${text}`);
  process.exit(2);
};
const outageMs = durationOf("provider-outage");
const s3OutageMs = durationOf("s3-outage");
if (outageMs !== undefined && s3OutageMs !== undefined) {
  console.error("--provider-outage and --s3-outage are two runs: give one");
  process.exit(2);
}
const topology = values.redis as RedisTopologyKind;
if (!REDIS_TOPOLOGIES.includes(topology)) {
  console.error(`--redis must be one of ${REDIS_TOPOLOGIES.join(", ")}, got ${values.redis}`);
  process.exit(2);
}
const jobs = Number(values.jobs);
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error(`--jobs must be a whole number of jobs, got ${values.jobs}`);
  process.exit(2);
}
const deadlineSeconds = values["deadline-s"] === undefined ? undefined : Number(values["deadline-s"]);
if (
  deadlineSeconds !== undefined &&
  !(Number.isInteger(deadlineSeconds) && deadlineSeconds >= 60 && deadlineSeconds <= 86_400)
) {
  console.error(
    `--deadline-s must be a whole number of seconds from 60 to 86400 (a job's deadlineSeconds), got ${values["deadline-s"]}`,
  );
  process.exit(2);
}
const seed = values.seed === undefined ? undefined : Number(values.seed);
const started = Date.now();
const logFile = fileURLToPath(
  new URL(`../../out/chaos/run-${new Date(started).toISOString().replaceAll(":", "-")}.log`, import.meta.url),
);
const log = (line: string) =>
  console.log(`[chaos ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
if (values.outbound) {
  const events = Number(values.events);
  log(`outbound fault-injection run: ${events} events to 2 endpoints, 2 workers, Redis with AOF`);
  try {
    const report = await runOutboundChaos({
      events,
      ...(seed === undefined ? {} : { seed }),
      drainTimeoutMs: Number(values["drain-timeout-s"]) * 1000,
      onProgress: log,
      logFile,
    });
    log(`every process's output: ${logFile}`);
    console.log(`\n${formatOutboundReport(report)}\n`);
    const failed = outboundViolations(report);
    if (failed.length > 0) {
      console.log(`FAILED: ${failed.join("; ")}`);
      process.exit(1);
    }
    console.log("every must-be-zero figure is 0");
    process.exit(0);
  } catch (error) {
    console.error("the outbound fault-injection run could not be made:", error);
    process.exit(2);
  }
}
log(
  s3OutageMs !== undefined
    ? `S3 outage run: ${jobs} jobs, 2 workers, 2 webhook receivers, Redis (${topology}); every connection to S3 reset for ${s3OutageMs / 1000} s from 30 % of the jobs finished`
    : outageMs === undefined
      ? `fault-injection run: ${jobs} jobs, 2 workers, 2 webhook receivers, Redis (${topology}) with AOF, embedded S3; ${REDIS_FAULTS[topology]} once`
      : `provider outage run: ${jobs} jobs, 2 workers, 2 webhook receivers, Redis (${topology}); every provider request answered 503 for ${outageMs / 1000} s from 30 % of the jobs finished`,
);
try {
  const report = await runChaos({
    jobs,
    redisTopology: topology,
    ...(seed === undefined ? {} : { seed }),
    ...(deadlineSeconds === undefined ? {} : { deadlineSeconds }),
    ...(outageMs === undefined ? {} : { providerOutage: { durationMs: outageMs } }),
    ...(s3OutageMs === undefined ? {} : { s3Outage: { durationMs: s3OutageMs } }),
    drainTimeoutMs: Number(values["drain-timeout-s"]) * 1000,
    onProgress: log,
    logFile,
  });
  log(`every process's output: ${logFile}`);
  console.log(`\n${formatReport(report)}\n`);
  const failed = violations(report);
  if (failed.length > 0) {
    console.log(`FAILED: ${failed.join("; ")}`);
    process.exit(1);
  }
  console.log("every must-be-zero figure is 0");
} catch (error) {
  console.error("the fault-injection run could not be made:", error);
  process.exit(2);
}

/** "90s", "3m", "1h" or plain seconds; null when it is none of these. */
function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!match) return null;
  const unit = { s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? "s") as "s" | "m" | "h"];
  const ms = Number(match[1]) * unit;
  return ms > 0 ? ms : null;
}
