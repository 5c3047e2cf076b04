import { EgressRefusedError } from "@reframe/egress";
import { ImageHeaderError } from "@reframe/storage";

/**
 * Why a source image cannot be read, decided once for every reader (the worker's plan step, and
 * estimates before enqueueing): a problem that retrying cannot fix has a code; anything else (a
 * network error, S3 or the origin answering 5xx or 429) is transient and left to the caller's retries.
 */
export const SOURCE_PROBLEMS = [
  "sourceNotFound",
  "sourceNotAnImage",
  "sourceRefused",
  "sourceUnreadable",
] as const;
export type SourceProblemCode = (typeof SOURCE_PROBLEMS)[number];

export interface SourceProblem {
  code: SourceProblemCode;
  message: string;
}

/** A URL source answered with an error status. */
export class SourceHttpError extends Error {
  readonly status: number;
  constructor(url: string, status: number) {
    super(`GET ${url} answered ${status}`);
    this.name = "SourceHttpError";
    this.status = status;
  }
}

export function sourceProblemOf(error: unknown, where: string): SourceProblem | undefined {
  if (error instanceof EgressRefusedError) return { code: "sourceRefused", message: error.message };
  if (error instanceof ImageHeaderError)
    return { code: "sourceNotAnImage", message: `the source ${where} is not a JPEG, PNG or WebP image` };
  if (error instanceof SourceHttpError)
    return error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429
      ? {
          code: error.status === 404 || error.status === 410 ? "sourceNotFound" : "sourceUnreadable",
          message: error.message,
        }
      : undefined;
  const name = (error as { name?: string } | undefined)?.name;
  if (name === "NoSuchKey" || name === "NotFound")
    return { code: "sourceNotFound", message: `the source ${where} does not exist` };
  if (name === "AccessDenied")
    return { code: "sourceUnreadable", message: `the source ${where} cannot be read (access denied)` };
  return undefined;
}
