/**
 * The run's input is wrong (a bad manifest row, an invalid job, a manifest changed between the plan
 * and the enqueue): running it again unchanged will not help. The CLI prints it as a usage error
 * (exit 2), a pipeline run's job fails at once without retries.
 */
export class RunInputError extends Error {
  readonly code = "runInput";
  constructor(message: string) {
    super(message);
    this.name = "RunInputError";
  }
}
