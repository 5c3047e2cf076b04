import type { z } from "zod";

export interface JobValidationIssue {
  /**
   * Where in the input, as keys and indexes: ["output", "quality"], ["inputs", 3, "target", "ratio"];
   * [] for the job as a whole. Kept as an array so each caller names it its own way (a flag, a
   * manifest line, the API body's path) without parsing text; `formatIssuePath` for the usual form.
   */
  path: readonly (string | number)[];
  rule: string;
}

/** A manifest with thousands of bad rows must not produce a message of thousands of lines. */
const MAX_ISSUES_IN_MESSAGE = 20;

/** A job that does not match the schema: the caller fixes its input (nothing was enqueued). */
export class JobValidationError extends Error {
  readonly code = "invalid-job";
  readonly issues: readonly JobValidationIssue[];

  constructor(issues: readonly JobValidationIssue[], options?: { cause?: unknown }) {
    const shown = issues
      .slice(0, MAX_ISSUES_IN_MESSAGE)
      .map((issue) => `  ${formatIssuePath(issue.path)}: ${issue.rule}`);
    if (issues.length > MAX_ISSUES_IN_MESSAGE)
      shown.push(`  … and ${issues.length - MAX_ISSUES_IN_MESSAGE} more`);
    super(`invalid outpaint job:\n${shown.join("\n")}`, options);
    this.name = "JobValidationError";
    this.issues = issues;
  }

  static fromZod(error: z.ZodError, pathPrefix: readonly PropertyKey[] = []): JobValidationError {
    const issues = error.issues.map((issue) => ({
      path: [...pathPrefix, ...issue.path].map((part) => (typeof part === "number" ? part : String(part))),
      rule: issue.code === "invalid_type" && issue.input === undefined ? "is required" : issue.message,
    }));
    return new JobValidationError(issues, { cause: error });
  }
}

/** ["inputs", 3, "target", "ratio"] → "inputs[3].target.ratio"; [] → "(job)". */
export function formatIssuePath(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? part : `.${part}`;
  }
  return out || "(job)";
}
