import { Worker } from "bullmq";
import { Redis } from "ioredis";

/**
 * The throughput baseline's worker: BullMQ with a processor that does nothing, in its own process
 * like reframe's worker. argv: REDIS_URL QUEUE_NAME CONCURRENCY.
 */
const [url, queueName, concurrency] = process.argv.slice(2);
if (!url || !queueName || !concurrency) throw new Error("usage: bare-worker.ts REDIS_URL QUEUE CONCURRENCY");
const connection = new Redis(url, { maxRetriesPerRequest: null });
const worker = new Worker(queueName, async () => undefined, {
  connection,
  prefix: "{bare}",
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
