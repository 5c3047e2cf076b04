import { Worker } from "bullmq";
import { Redis } from "ioredis";

/**
 * BullMQ with a processor that does nothing, in its own process like reframe's worker: the
 * throughput baseline's worker, and the downstream consumer of completion events in redisCeiling.
 * argv: REDIS_URL QUEUE_NAME CONCURRENCY [PREFIX, {bare} by default].
 */
const [url, queueName, concurrency, prefix = "{bare}"] = process.argv.slice(2);
if (!url || !queueName || !concurrency)
  throw new Error("usage: bare-worker.ts REDIS_URL QUEUE CONCURRENCY [PREFIX]");
const connection = new Redis(url, { maxRetriesPerRequest: null });
const worker = new Worker(queueName, async () => undefined, {
  connection,
  prefix,
  concurrency: Number(concurrency),
});
await worker.waitUntilReady();
console.log("bare worker started");
process.on("SIGTERM", () => {
  void worker.close().then(() => {
    connection.disconnect();
    process.exit(0);
  });
});
