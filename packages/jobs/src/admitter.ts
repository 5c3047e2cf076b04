import { PeriodicTask } from "@reframe/lifecycle";
import { LeaderLock, type RedisClient } from "@reframe/redis";
import type { Admission, AdmitResult } from "./admission.ts";
import { batchKeys } from "./batch-store.ts";

/**
 * Keeps the windows of waiting batches topped up: every `tickMs`, for each batch with a registered
 * stream (or only `batchId`), takes or renews that batch's lease and admits what its window has room
 * for. The lease is the reconciler's LeaderLock, one per batch: one admitter per batch at a time
 * across processes, and one that dies is replaced after `leaseMs`. Workers run one for every batch;
 * `reframe bulk` runs one for its own batch while it follows it, holding the lease from before the
 * stream is registered, so its run is admitted by itself when it is there, and by the workers after.
 */
export interface AdmitterOptions {
  redis: RedisClient;
  admission: Admission;
  prefix: string;
  /** Only this batch (a CLI following its run); all waiting batches when absent. */
  batchId?: string;
  /** The batch closed when the admitter sealed it: announce its completion. */
  onClosed?: (batchId: string) => Promise<void>;
  /** After each admission pass that admitted something, or finished the batch. */
  onAdmitted?: (batchId: string, result: AdmitResult) => void;
  onError?: (error: unknown) => void;
  /** Asked between slices of a pass besides stop() (a CLI's Ctrl-C). */
  shouldStop?: () => boolean;
  tickMs?: number;
  leaseMs?: number;
}

const ADMITTER_LEASE_MS = 10_000;

export class Admitter {
  private readonly options: Required<Omit<AdmitterOptions, "batchId" | "onClosed" | "onAdmitted">> &
    Pick<AdmitterOptions, "batchId" | "onClosed" | "onAdmitted">;
  private readonly locks = new Map<string, LeaderLock>();
  private readonly loop: PeriodicTask;

  constructor(options: AdmitterOptions) {
    this.options = {
      tickMs: 500,
      leaseMs: ADMITTER_LEASE_MS,
      onError: () => undefined,
      shouldStop: () => false,
      ...options,
    };
    this.loop = new PeriodicTask({
      run: () => this.tick(),
      intervalMs: this.options.tickMs,
      onError: this.options.onError,
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops after the pass under way and gives up the leases it holds: another admitter goes on at once. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await Promise.all([...this.locks.values()].map((lock) => lock.release().catch(() => undefined)));
    this.locks.clear();
  }

  /** Takes or renews the lease of its one batch (`batchId`) without admitting anything yet. */
  async claim(): Promise<boolean> {
    const { batchId } = this.options;
    if (!batchId) throw new TypeError("claim() is for an admitter of one batch");
    return this.lockOf(batchId).acquireOrRenew();
  }

  private lockOf(batchId: string): LeaderLock {
    let lock = this.locks.get(batchId);
    if (!lock) {
      lock = new LeaderLock(
        this.options.redis,
        batchKeys(this.options.prefix, batchId).admitter,
        this.options.leaseMs,
      );
      this.locks.set(batchId, lock);
    }
    return lock;
  }

  /** One pass over the batches. Exposed for tests and for a caller that must hold the lease now. */
  async tick(): Promise<void> {
    const { admission, batchId } = this.options;
    const batches = batchId ? [batchId] : await admission.waitingBatches();
    for (const [id, lock] of this.locks)
      if (!batches.includes(id)) {
        this.locks.delete(id);
        await lock.release();
      }
    for (const id of batches) {
      if (this.loop.stopping) return;
      const lock = this.lockOf(id);
      if (!(await lock.acquireOrRenew())) continue;
      const result = await admission.admit(id, {
        shouldStop: () => this.loop.stopping || this.options.shouldStop(),
      });
      if (!result) continue;
      if (result.admitted > 0 || result.finished) this.options.onAdmitted?.(id, result);
      if (result.closed) await this.options.onClosed?.(id);
      if (result.finished) {
        this.locks.delete(id);
        await lock.release();
        // A CLI's admitter has nothing left to do once its batch is wholly admitted.
        if (batchId) void this.loop.stop();
      }
    }
  }
}
