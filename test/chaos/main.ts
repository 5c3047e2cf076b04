import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatReport, violations } from "./chaos-report.ts";
import { runChaos } from "./chaos-run.ts";
import { formatOutboundReport, outboundViolations, runOutboundChaos } from "./outbound-run.ts";

/**
 * `pnpm test:chaos [--jobs 2000] [--seed N]`: the fault-injection run of issue 5;
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
  },
});
const jobs = Number(values.jobs);
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error(`--jobs must be a whole number of jobs, got ${values.jobs}`);
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
log(`fault-injection run: ${jobs} jobs, 2 workers, 2 webhook receivers, Redis with AOF, embedded S3`);
try {
  const report = await runChaos({
    jobs,
    ...(seed === undefined ? {} : { seed }),
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
