import { fromMicroUsd, toMicroUsd } from "@reframe/jobs";
import { DEFAULT_QUEUE_PREFIX, luaScript, type RedisClient, runScript } from "@reframe/redis";
import { z } from "zod";
import { DEFAULT_UPLOADS_PER_DAY_USD, type Pipeline } from "./pipeline-file.ts";

/**
 * What a pipeline's upload triggers may spend: the planned cost of each job they add is counted
 * over a rolling 24 hours and, when the pipeline names one, a rolling hour (upload-budget.lua). A
 * job that does not fit is not added; it is recorded as refused, and the first refusal of a window
 * is announced. Keys, per pipeline:
 *   pipeline:<name>:uploads:{day,hour}         zset  jobId -> when counted
 *   pipeline:<name>:uploads:costs|totals       hash  jobId -> micro-USD | day, hour -> micro-USD
 *   pipeline:<name>:uploads:refusals           zset  jobId -> when refused (24 hours)
 *   pipeline:<name>:uploads:refusal-records    hash  jobId -> RefusalRecord (the newest 100)
 *   pipeline:<name>:uploads:announced:{day,hour}  string, set for a window after its first refusal
 */

export const UPLOAD_WINDOWS = { day: 86_400_000, hour: 3_600_000 } as const;
type UploadWindow = keyof typeof UPLOAD_WINDOWS;

const RECORDS_KEPT = 100;
/** Keys of a pipeline whose triggers went quiet outlive the day window, then go. */
const KEEP_MS = 2 * UPLOAD_WINDOWS.day;
const UPLOAD_BUDGET = luaScript(new URL("./lua/upload-budget.lua", import.meta.url));

export interface UploadCeilings {
  perDayUsd: number;
  perHourUsd: number | undefined;
}

/** The ceilings a pipeline's triggers spend under: its budget's, else $10 per rolling day. */
export function uploadCeilingsOf(pipeline: Pipeline): UploadCeilings {
  return {
    perDayUsd: pipeline.budget?.uploadsPerDayUsd ?? DEFAULT_UPLOADS_PER_DAY_USD,
    perHourUsd: pipeline.budget?.uploadsPerHourUsd,
  };
}

const refusalRecordSchema = z.object({
  jobId: z.string(),
  /** s3://bucket/key of the upload. */
  source: z.string(),
  target: z.string(),
  costUsd: z.number(),
  at: z.number(),
  window: z.enum(["day", "hour"]),
});
export type RefusalRecord = z.output<typeof refusalRecordSchema>;

export interface BudgetItem {
  jobId: string;
  costUsd: number;
  source: string;
  target: string;
}

interface Reservation {
  /** Per item, in order: counted (or counted before), or refused. */
  admitted: boolean[];
  /** Windows whose first refusal this was: announce them. */
  announce: UploadWindow[];
  usage: UploadUsage;
}

export interface UploadUsage {
  dayUsd: number;
  hourUsd: number;
  /** Jobs refused over a ceiling in the last 24 hours. */
  refusedLastDay: number;
}

export interface UploadBudgets {
  reserve(
    pipeline: string,
    ceilings: UploadCeilings,
    items: readonly BudgetItem[],
    now: number,
  ): Promise<Reservation>;
  usage(pipeline: string, now: number): Promise<UploadUsage>;
  /** The newest refusals first. */
  refusals(pipeline: string, limit?: number): Promise<RefusalRecord[]>;
}

export function createUploadBudgets(
  redis: RedisClient,
  { prefix = DEFAULT_QUEUE_PREFIX } = {},
): UploadBudgets {
  const keys = (pipeline: string) => {
    const base = `${prefix}:pipeline:${pipeline}:uploads`;
    return [
      `${base}:day`,
      `${base}:hour`,
      `${base}:costs`,
      `${base}:totals`,
      `${base}:refusals`,
      `${base}:refusal-records`,
      `${base}:announced:day`,
      `${base}:announced:hour`,
    ];
  };
  const run = async (
    pipeline: string,
    ceilings: UploadCeilings,
    items: readonly BudgetItem[],
    now: number,
  ) => {
    const args = items.flatMap((item) => [
      item.jobId,
      toMicroUsd(item.costUsd),
      JSON.stringify({
        jobId: item.jobId,
        source: item.source,
        target: item.target,
        costUsd: item.costUsd,
        at: now,
      }),
    ]);
    const [admitted, day, hour, announceDay, announceHour, refused] = (await runScript(
      redis,
      UPLOAD_BUDGET,
      keys(pipeline),
      [
        now,
        UPLOAD_WINDOWS.day,
        UPLOAD_WINDOWS.hour,
        toMicroUsd(ceilings.perDayUsd),
        ceilings.perHourUsd === undefined ? -1 : toMicroUsd(ceilings.perHourUsd),
        KEEP_MS,
        RECORDS_KEPT,
        ...args,
      ],
    )) as [string, number, number, number, number, number];
    const announce: UploadWindow[] = [];
    if (announceDay === 1) announce.push("day");
    if (announceHour === 1) announce.push("hour");
    return {
      admitted: [...admitted].map((flag) => flag === "1"),
      announce,
      usage: { dayUsd: fromMicroUsd(day), hourUsd: fromMicroUsd(hour), refusedLastDay: refused },
    };
  };
  return {
    reserve: run,
    async usage(pipeline, now) {
      // The same script with nothing to count: it lets what left the windows go first.
      return (await run(pipeline, { perDayUsd: 0, perHourUsd: undefined }, [], now)).usage;
    },
    async refusals(pipeline, limit = 10) {
      const records = Object.values(await redis.hgetall(keys(pipeline)[5]!)).flatMap((json) => {
        const parsed = refusalRecordSchema.safeParse(JSON.parse(json));
        return parsed.success ? [parsed.data] : [];
      });
      return records.sort((a, b) => b.at - a.at).slice(0, limit);
    },
  };
}
