import { z } from "zod";

/** `POST /admin/outage {seconds}`: 0 ends an outage now; at most a day. */
export const outageRequestSchema = z.strictObject({
  seconds: z
    .number("seconds must be a number")
    .min(0, "seconds must be 0 or more")
    .max(86_400, "seconds must be at most 86400"),
});

export interface OutageSnapshot {
  active: boolean;
  /** The last outage's start and end (epoch ms), once one was started. */
  startedAt?: number;
  endsAt?: number;
  /** /v1 requests answered 503 by outages since the start or the last reset, by what they asked. */
  requests: number;
  submits: number;
  polls: number;
}

/**
 * A provider outage on demand: until it ends, every POST /v1 is answered 503 serviceUnavailable,
 * whatever it asks, and counted, so a fault run can tell how many requests reframe made to a provider
 * that was down (the breaker's probes should be most of them).
 */
export class Outage {
  private startedAt: number | undefined;
  private endsAt = 0;
  private counts = { requests: 0, submits: 0, polls: 0 };
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  start(seconds: number): OutageSnapshot {
    const now = this.now();
    if (!this.active()) this.startedAt = now;
    this.endsAt = now + seconds * 1000;
    return this.snapshot();
  }

  active(): boolean {
    return this.now() < this.endsAt;
  }

  /** Counts one request refused by the outage, by the task types it carried. */
  refuse(body: unknown): void {
    this.counts.requests += 1;
    const types = new Set(
      (Array.isArray(body) ? body : []).map((task) => (task as { taskType?: unknown } | null)?.taskType),
    );
    if (types.has("imageInference")) this.counts.submits += 1;
    else if (types.has("getResponse")) this.counts.polls += 1;
  }

  snapshot(): OutageSnapshot {
    return {
      active: this.active(),
      ...(this.startedAt === undefined ? {} : { startedAt: this.startedAt, endsAt: this.endsAt }),
      ...this.counts,
    };
  }

  reset(): void {
    this.startedAt = undefined;
    this.endsAt = 0;
    this.counts = { requests: 0, submits: 0, polls: 0 };
  }
}
