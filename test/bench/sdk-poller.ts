import { randomUUID } from "node:crypto";
import { LOCAL_BUCKETS } from "@reframe/local-stack";
import { createRunwareClient, type ImageInferenceTask, RUNWARE_OUTPAINTING_MODEL } from "@reframe/runware";
import { createS3Client, presignOutputUpload, presignSourceDownload } from "@reframe/storage";
import type { BenchStack } from "./bench-stack.ts";
import { SOURCE } from "./bench-stack.ts";

/**
 * The provider-calls baseline: each task on its own, as the official SDK does it — one POST per
 * task, then one getResponse per task at the SDK's cadence: the first poll 1 s after the submit, the
 * next 1.5 s later, then each wait ×1.5, capped at 10 s.
 */
function sdkPollDelays(): () => number {
  let next = 1000;
  let polls = 0;
  return () => {
    const delay = next;
    polls += 1;
    next = polls === 1 ? 1500 : Math.min(10_000, next * 1.5);
    return delay;
  };
}

export interface PerTaskResult {
  requests: number;
  completed: number;
  /** Submit to the poll that saw the result, per task (ms). */
  latenciesMs: number[];
}

export async function pollEachTask(
  bench: BenchStack,
  tasks: number,
  submitConcurrency = 50,
): Promise<PerTaskResult> {
  const { stack } = bench;
  const client = createRunwareClient({
    baseUrl: `${stack.emulatorUrl}/v1`,
    apiKey: stack.apiKey,
    connections: 64,
  });
  const s3 = createS3Client({
    endpoint: stack.s3.endpoint,
    region: stack.s3.region,
    forcePathStyle: true,
    credentials: stack.s3.credentials,
  });
  let requests = 0;
  const latenciesMs: number[] = [];
  // Submits go out `submitConcurrency` at a time, as an application looping over its work would.
  const submits = limiter(submitConcurrency);
  const runOne = async (index: number) => {
    const task = await providerTask(s3, index);
    const submittedAt = await submits(async () => {
      requests += 1;
      const [ack] = [...(await client.submit([task])).values()];
      if (ack?.kind !== "accepted") throw new Error(`the baseline's submit was answered ${ack?.kind}`);
      return performance.now();
    });
    const delays = sdkPollDelays();
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, delays()));
      requests += 1;
      const outcome = (await client.getResponses([task.taskUUID])).get(task.taskUUID);
      if (outcome?.kind === "completed") break;
      if (outcome?.kind === "failed") throw new Error(`a baseline task failed: ${outcome.error.code}`);
    }
    latenciesMs.push(performance.now() - submittedAt);
  };
  try {
    await Promise.all(Array.from({ length: tasks }, (_, index) => runOne(index)));
  } finally {
    await client.close();
    s3.destroy();
  }
  return { requests, completed: latenciesMs.length, latenciesMs };

  async function providerTask(
    s3Client: ReturnType<typeof createS3Client>,
    index: number,
  ): Promise<ImageInferenceTask> {
    const expiresInSeconds = 900;
    return {
      taskType: "imageInference",
      taskUUID: randomUUID(),
      model: RUNWARE_OUTPAINTING_MODEL,
      deliveryMethod: "async",
      numberResults: 1,
      includeCost: true,
      inputs: {
        image: await presignSourceDownload({
          client: s3Client,
          bucket: LOCAL_BUCKETS.sources,
          key: SOURCE.key,
          expiresInSeconds,
        }),
      },
      outpaint: { left: 9, right: 9 },
      outputType: "URL",
      outputFormat: "JPG",
      uploadEndpoint: await presignOutputUpload({
        client: s3Client,
        bucket: LOCAL_BUCKETS.outputs,
        key: `bench/per-task/${index}.jpg`,
        expiresInSeconds,
      }),
    } as ImageInferenceTask;
  }
}

/** Runs at most `limit` of the given functions at once. */
function limiter(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(work: () => Promise<T>): Promise<T> => {
    while (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active += 1;
    try {
      return await work();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
}
