import type { z } from "zod";

export type EnvSource = Readonly<Record<string, string | undefined>>;

export interface ConfigIssue {
  variable: string;
  rule: string;
}

/** A bad environment: thrown by `parseEnv`, printed by `loadConfigOrExit` as one line per variable. */
export class ConfigError extends Error {
  readonly code = "invalid-config";
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(
      `invalid configuration:\n${issues.map((issue) => `  ${issue.variable}: ${issue.rule}`).join("\n")}`,
    );
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/**
 * Parses the variables a schema names out of `env`. Variables the schema does not name are ignored
 * (the environment holds many unrelated ones); cross-field rules belong in the schema's superRefine
 * with a `path`, so the error still names a variable.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: EnvSource): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    variable: issue.path.map(String).join(".") || "(environment)",
    rule: issue.code === "invalid_type" && issue.input === undefined ? "is required" : issue.message,
  }));
  throw new ConfigError(issues);
}

/** For `main()`: a bad environment stops the process with the variable and the rule, no stack trace. */
export function loadConfigOrExit<S extends z.ZodType>(schema: S, env: EnvSource = process.env): z.output<S> {
  try {
    return parseEnv(schema, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
