import { presignOutputUpload, presignSourceDownload } from "@reframe/storage";
import type { SecurityStack } from "./security-stack.ts";

/** A provider task as the worker logged it at debug level (its URLs' secrets redacted). */
export interface SubmittedTask {
  jobId: string;
  taskUUID: string;
  uploadEndpoint: string;
  /** The source, when it is a presigned GET URL (URL sources are passed as given). */
  sourceUrl: string | undefined;
}

/** Every "submitting a provider task" line of the worker processes' JSON logs. */
export function submittedTasks(s: SecurityStack): SubmittedTask[] {
  const lines = s.stack.workers.flatMap((worker) => worker.output().split("\n"));
  const tasks: SubmittedTask[] = [];
  for (const line of lines) {
    if (!line.includes('"submitting a provider task"')) continue;
    const entry = JSON.parse(line) as {
      jobId: string;
      task: { taskUUID: string; uploadEndpoint: string; inputs: { image: string } };
    };
    const { taskUUID, uploadEndpoint, inputs } = entry.task;
    tasks.push({
      jobId: entry.jobId,
      taskUUID,
      uploadEndpoint,
      sourceUrl: inputs.image.includes("X-Amz-Date=") ? inputs.image : undefined,
    });
  }
  return tasks;
}

/** When a SigV4 presigned URL stops working: X-Amz-Date plus X-Amz-Expires seconds (epoch ms). */
export function expiryOf(url: string): number {
  const params = new URL(url).searchParams;
  const date = params
    .get("X-Amz-Date")!
    .replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z");
  return Date.parse(date) + Number(params.get("X-Amz-Expires")) * 1000;
}

/**
 * The X-Amz-Signature a logged (redacted) presigned URL really carried: SigV4 is deterministic, so
 * signing the same method, bucket, key, time and expiry with the stack's credentials gives it back.
 * The result is checked to be the logged URL itself, apart from the signature.
 */
export async function signatureOf(s: SecurityStack, logged: string, method: "PUT" | "GET"): Promise<string> {
  const url = new URL(logged);
  const [bucket, ...rest] = url.pathname.slice(1).split("/");
  const input = {
    client: s.clients.s3,
    bucket: bucket!,
    key: rest.map(decodeURIComponent).join("/"),
    expiresInSeconds: Number(url.searchParams.get("X-Amz-Expires")),
    signedAt: expiryOf(logged) - Number(url.searchParams.get("X-Amz-Expires")) * 1000,
  };
  const signed = new URL(
    method === "PUT" ? await presignOutputUpload(input) : await presignSourceDownload(input),
  );
  const comparable = (u: URL) =>
    JSON.stringify([
      u.origin,
      u.pathname,
      [...u.searchParams].filter(([name]) => !/^X-Amz-(Signature|Credential)$/.test(name)).sort(),
    ]);
  if (comparable(signed) !== comparable(url)) throw new Error(`could not re-sign ${logged}`);
  return signed.searchParams.get("X-Amz-Signature")!;
}
