import type { z } from "zod";

export interface JobValidationIssue {
  /** Dotted path with indexes, e.g. "output.quality" or "inputs[3].target.ratio". */
  path: string;
  rule: string;
}

/** A manifest with thousands of bad rows must not produce a message of thousands of lines. */
const MAX_ISSUES_IN_MESSAGE = 20;

/** A job that does not match the schema: the caller fixes its input (nothing was enqueued). */
export class JobValidationError extends Error {
  readonly code = "invalid-job";
  readonly issues: readonly JobValidationIssue[];

  constructor(issues: readonly JobValidationIssue[], options?: { cause?: unknown }) {
    const shown = issues.slice(0, MAX_ISSUES_IN_MESSAGE).map((issue) => `  ${issue.path}: ${issue.rule}`);
    if (issues.length > MAX_ISSUES_IN_MESSAGE)
      shown.push(`  … and ${issues.length - MAX_ISSUES_IN_MESSAGE} more`);
    super(`invalid outpaint job:\n${shown.join("\n")}`, options);
    this.name = "JobValidationError";
    this.issues = issues;
  }

  static fromZod(error: z.ZodError, pathPrefix: readonly PropertyKey[] = []): JobValidationError {
    const issues = error.issues.map((issue) => ({
      path: formatPath([...pathPrefix, ...issue.path]) || "(job)",
      rule: issue.code === "invalid_type" && issue.input === undefined ? "is required" : issue.message,
    }));
    return new JobValidationError(issues, { cause: error });
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}
