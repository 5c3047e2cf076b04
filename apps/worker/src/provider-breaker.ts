import { providerOutageAlert } from "@reframe/jobs";
import { isOutage, type RunwareClient } from "@reframe/runware";
import { type BreakerProcessOptions, ServiceBreaker } from "./service-breaker.ts";

/**
 * A taskUUID no job ever uses (task UUIDs are v5, task-uuid.ts): the probe asks the provider about
 * it, and any answer — taskNotFound is the usual one — says the provider is back.
 */
export const PROBE_TASK_UUID = "00000000-0000-4000-8000-000000000000";

export interface ProviderBreakerOptions extends BreakerProcessOptions {
  /** The client the probe goes through: not the guarded one, a probe is not a job's request. */
  provider: Pick<RunwareClient, "getResponses">;
}

/**
 * The provider's breaker (service-breaker.ts): while it is open no job submits or polls; the probe
 * is a getResponse for a taskUUID no job uses; opening it raises the providerOutage alert.
 */
export class ProviderBreaker extends ServiceBreaker {
  constructor({ provider, ...options }: ProviderBreakerOptions) {
    super({
      ...options,
      service: "provider",
      outageOf: (error) => (isOutage(error) ? (error as Error).message : undefined),
      openedAlert: providerOutageAlert,
      whileOpen: "no job submits or polls",
      async probe() {
        try {
          await provider.getResponses([PROBE_TASK_UUID]);
          return undefined;
        } catch (error) {
          return isOutage(error) ? (error as Error).message : undefined;
        }
      },
    });
  }

  /** The client every job and the reconciler use: each request's outcome counts for the breaker. */
  guard<T extends Pick<RunwareClient, "submit" | "getResponses">>(client: T): T {
    return {
      ...client,
      submit: (tasks, options) => this.observe(() => client.submit(tasks, options)),
      getResponses: (taskUUIDs, options) => this.observe(() => client.getResponses(taskUUIDs, options)),
    };
  }
}
