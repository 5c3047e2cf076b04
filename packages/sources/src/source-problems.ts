import { EgressRefusedError } from "@reframe/egress";
import { type ImageProblemCode, ImageProblemError } from "@reframe/images";

/**
 * Why a source image cannot be used, decided once for every reader (the worker's plan step, and
 * estimates before enqueueing): a problem that retrying cannot fix has a code, and the job fails at
 * once with it; anything else (a network error, S3 or the origin answering 5xx or 429, a full disk)
 * is transient and left to the caller's retries.
 */
export const SOURCE_PROBLEMS = [
  "sourceNotFound",
  "sourceRefused",
  "sourceUnreadable",
  "sourceUnsupported",
  "sourceTooLarge",
] as const;
export type SourceProblemCode = (typeof SOURCE_PROBLEMS)[number];

/**
 * How a dry run counts a source with the problem: `refused`, an image reframe will not take on (over
 * a limit, a format it does not read, an address the egress guard refuses), or `unreadable`.
 */
export const SOURCE_PROBLEM_ESTIMATES: Record<SourceProblemCode, "refused" | "unreadable"> = {
  sourceNotFound: "unreadable",
  sourceRefused: "refused",
  sourceUnreadable: "unreadable",
  sourceUnsupported: "refused",
  sourceTooLarge: "refused",
};

const IMAGE_PROBLEM_CODES: Record<ImageProblemCode, SourceProblemCode> = {
  tooLarge: "sourceTooLarge",
  unsupported: "sourceUnsupported",
  unreadable: "sourceUnreadable",
};

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
  if (error instanceof ImageProblemError)
    return { code: IMAGE_PROBLEM_CODES[error.code], message: `the source ${where} ${error.message}` };
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
