import type { ImageInferenceResult, ImageInferenceTask } from "@reframe/runware";

export interface Generation {
  status: "processing" | "success" | "error";
  result?: ImageInferenceResult;
  error?: { code: string; message: string };
}

export interface TaskRecord {
  taskUUID: string;
  task: ImageInferenceTask;
  createdAt: number;
  expiresAt: number;
  generations: Generation[];
}

export interface StoredImage {
  bytes: Buffer;
  contentType: string;
  expiresAt: number;
}

export interface TaskCounters {
  /** imageInference tasks received with this taskUUID, conflicts included. */
  submits: number;
  /** Submissions that started generating: more than 1 would mean generating twice. */
  accepted: number;
  conflicts: number;
  polls: number;
  webhookAttempts: number;
  uploads: number;
  /** Generations ended by the injected terminal fault (contentPolicyViolation). */
  terminalFaults: number;
  /** Generations ended by the injected upload fault (uploadFailed). */
  uploadFaults: number;
}

const emptyCounters = (): TaskCounters => ({
  submits: 0,
  accepted: 0,
  conflicts: 0,
  polls: 0,
  webhookAttempts: 0,
  uploads: 0,
  terminalFaults: 0,
  uploadFaults: 0,
});

/**
 * Tasks, URL outputs and counters, in memory. Tasks are forgotten after the retention time
 * (getResponse then answers taskNotFound) and URL outputs after their ttl (404).
 */
export class TaskStore {
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly images = new Map<string, StoredImage>();
  /** taskUUIDs being admitted (input fetched, canvas checked) but not stored yet. */
  private readonly admitting = new Set<string>();
  private counters = new Map<string, TaskCounters>();
  totals = { requests: 0, ...emptyCounters() };
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  get(taskUUID: string): TaskRecord | undefined {
    const record = this.tasks.get(taskUUID);
    if (record && record.expiresAt <= this.now()) {
      this.tasks.delete(taskUUID);
      return undefined;
    }
    return record;
  }

  add(record: TaskRecord): void {
    this.tasks.set(record.taskUUID, record);
  }

  /**
   * Claims a taskUUID for admission, at once and before anything is awaited: false when a task with
   * it exists or is being admitted, so two submissions of one taskUUID that overlap (a client that
   * re-sends while its first request is still reading the input) generate once, not twice.
   */
  claim(taskUUID: string): boolean {
    if (this.admitting.has(taskUUID) || this.get(taskUUID)) return false;
    this.admitting.add(taskUUID);
    return true;
  }

  /** Ends a claim: the task was stored (`add`) or refused. */
  unclaim(taskUUID: string): void {
    this.admitting.delete(taskUUID);
  }

  putImage(imageUUID: string, image: StoredImage): void {
    this.images.set(imageUUID, image);
  }

  image(imageUUID: string): StoredImage | undefined {
    const image = this.images.get(imageUUID);
    if (image && image.expiresAt <= this.now()) {
      this.images.delete(imageUUID);
      return undefined;
    }
    return image;
  }

  count(taskUUID: string, counter: keyof TaskCounters, by = 1): void {
    let entry = this.counters.get(taskUUID);
    if (!entry) {
      entry = emptyCounters();
      this.counters.set(taskUUID, entry);
    }
    entry[counter] += by;
    this.totals[counter] += by;
  }

  snapshot(): { totals: TaskStore["totals"]; tasks: Record<string, TaskCounters> } {
    return { totals: { ...this.totals }, tasks: Object.fromEntries(this.counters) };
  }

  resetCounters(): void {
    this.counters = new Map();
    this.totals = { requests: 0, ...emptyCounters() };
  }

  /** Drops expired tasks and images; called on a timer so memory stays bounded. */
  sweep(): void {
    const now = this.now();
    for (const [key, record] of this.tasks) if (record.expiresAt <= now) this.tasks.delete(key);
    for (const [key, image] of this.images) if (image.expiresAt <= now) this.images.delete(key);
  }

  clear(): void {
    this.tasks.clear();
    this.admitting.clear();
    this.images.clear();
    this.resetCounters();
  }
}
