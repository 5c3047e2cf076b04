import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { FastifyAdapter } from "@bull-board/fastify";
import type { RedisClient } from "@reframe/redis";
import { redactText, redactValue } from "@reframe/telemetry";
import { Queue } from "bullmq";
import type { FastifyInstance } from "fastify";

/**
 * Bull Board over every BullMQ queue under the prefix (the outpaint queue, pipeline runs, route and
 * alert queues, webhook deliveries), found by their `meta` keys. Job data, results, failure reasons,
 * stack traces and logs pass through the log redaction, so a presigned URL or a token shows as
 * [REDACTED]. Read-only unless actions are on; with actions on, only the actions an operator needs
 * (retry, promote, clean, pause and resume, the job schedulers) pass: adding jobs by hand, editing
 * their data or obliterating a queue stay with the CLI.
 */

export const BULL_BOARD_ACTIONS = [
  /^\/api\/queues\/(pause|resume)$/,
  /^\/api\/queues\/[^/]+\/(retry|clean)\/[^/]+$/,
  /^\/api\/queues\/[^/]+\/(promote|pause|resume)$/,
  /^\/api\/queues\/[^/]+\/job-schedulers\/[^/]+(\/remove|\/run)?$/,
  /^\/api\/queues\/[^/]+\/[^/]+\/(retry|clean|promote)$/,
];

export interface BullBoardOptions {
  /** Where the board lives, e.g. /dashboard/queues. */
  basePath: string;
  /** The same, relative to the plugin scope it is registered in, e.g. /queues. */
  mountPath: string;
  redis: RedisClient;
  prefix: string;
  actions: boolean;
}

/** A job whose JSON (what Bull Board shows) is redacted. */
function redactedJob<T extends object | null | undefined>(job: T): T {
  if (!job) return job;
  const original = job as unknown as { toJSON(): Record<string, unknown> };
  return Object.assign(Object.create(job), {
    toJSON: () => redactValue(original.toJSON()) as Record<string, unknown>,
  }) as T;
}

class RedactingAdapter extends BullMQAdapter {
  override async getJob(id: string) {
    return redactedJob(await super.getJob(id));
  }
  override async getJobs(...args: Parameters<BullMQAdapter["getJobs"]>) {
    return (await super.getJobs(...args)).map(redactedJob);
  }
  override async getJobLogs(id: string) {
    return (await super.getJobLogs(id)).map(redactText);
  }
}

export async function registerBullBoard(scope: FastifyInstance, options: BullBoardOptions) {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(options.basePath);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: "reframe queues",
        miscLinks: [{ text: "reframe overview", url: options.basePath.replace(/\/queues$/, "") }],
      },
    },
  });
  const queues = new Map<string, Queue>();
  let refreshedAt = 0;
  const refresh = async () => {
    if (Date.now() - refreshedAt < 10_000) return;
    refreshedAt = Date.now();
    for (const name of await queueNames(options.redis, options.prefix)) {
      if (queues.has(name)) continue;
      queues.set(name, new Queue(name, { connection: options.redis, prefix: options.prefix }));
    }
    board.replaceQueues(
      [...queues.values()].map((queue) => {
        const adapter = new RedactingAdapter(queue, {
          readOnlyMode: !options.actions,
          allowRetries: options.actions,
        });
        adapter.setFormatter("data", (data) => redactValue(data));
        adapter.setFormatter("returnValue", (value) => redactValue(value));
        return adapter;
      }),
    );
  };
  await refresh();
  scope.addHook("onRequest", async (request) => {
    if (request.method === "GET") await refresh();
  });
  await scope.register(serverAdapter.registerPlugin(), { prefix: options.mountPath });
  return {
    async close() {
      await Promise.all([...queues.values()].map((queue) => queue.close()));
    },
  };
}

/** Every BullMQ queue under the prefix: each keeps a `<prefix>:<name>:meta` hash. */
async function queueNames(redis: RedisClient, prefix: string): Promise<string[]> {
  const names = new Set<string>();
  const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}:*:meta`;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      const name = key.slice(prefix.length + 1, -":meta".length);
      if (name && !name.includes(":")) names.add(name);
    }
  } while (cursor !== "0");
  return [...names].sort();
}
