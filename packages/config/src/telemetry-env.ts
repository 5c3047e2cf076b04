import { envField } from "./env.ts";

/**
 * The metrics listener of a process (worker, webhook receiver, API): its own port, never the one
 * providers or clients call. Off unless a port is given, so several processes on one machine do not
 * fight over a default; the demo, Compose and Kubernetes set one per process.
 */
export const metricsEnvFields = {
  METRICS_PORT: envField.int({ min: 0, max: 65_535, default: 0 }),
  METRICS_HOST: envField.string({ default: "0.0.0.0" }),
};
