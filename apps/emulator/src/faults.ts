import { z } from "zod";
import type { EmulatorConfig } from "./emulator-config.ts";
import { createGrainRandom } from "./engine/grain.ts";

const rate = z.number().min(0).max(1);

/**
 * Fault rates, each the probability of the fault per request (HTTP faults), per generation (terminal,
 * NSFW, upload) or per webhook delivery (drop, duplicate, delay, reorder). Set by environment at start
 * and changed at run time through POST /admin/faults.
 */
export const faultsSchema = z
  .object({
    rate429: rate,
    rate503: rate,
    rate504: rate,
    timeoutRate: rate,
    terminalErrorRate: rate,
    nsfwRate: rate,
    uploadFailureRate: rate,
    webhookDropRate: rate,
    webhookDuplicateRate: rate,
    webhookDelayRate: rate,
    webhookReorderRate: rate,
  })
  .strict();
export type Faults = z.infer<typeof faultsSchema>;
export const faultsPatchSchema = faultsSchema.partial();

export function faultsFromConfig(config: EmulatorConfig): Faults {
  return {
    rate429: config.EMULATOR_RATE_429,
    rate503: config.EMULATOR_RATE_503,
    rate504: config.EMULATOR_RATE_504,
    timeoutRate: config.EMULATOR_RATE_TIMEOUT,
    terminalErrorRate: config.EMULATOR_RATE_TERMINAL,
    nsfwRate: config.EMULATOR_RATE_NSFW,
    uploadFailureRate: config.EMULATOR_RATE_UPLOAD_FAILURE,
    webhookDropRate: config.EMULATOR_RATE_WEBHOOK_DROP,
    webhookDuplicateRate: config.EMULATOR_RATE_WEBHOOK_DUPLICATE,
    webhookDelayRate: config.EMULATOR_RATE_WEBHOOK_DELAY,
    webhookReorderRate: config.EMULATOR_RATE_WEBHOOK_REORDER,
  };
}

/** Seeded (the grain's mulberry32): with EMULATOR_SEED a fault run repeats exactly. */
export const seededRandom = createGrainRandom;

export type InjectedCounts = Record<keyof Faults, number>;

const noInjections = (): InjectedCounts =>
  Object.fromEntries(Object.keys(faultsSchema.shape).map((name) => [name, 0])) as InjectedCounts;

export class FaultSampler {
  faults: Faults;
  /** How many times each fault fired: a fault run compares what it saw against what was injected. */
  injected: InjectedCounts = noInjections();
  private readonly random: () => number;
  constructor(faults: Faults, random: () => number) {
    this.faults = faults;
    this.random = random;
  }
  /** True with the probability of the named fault. */
  hits(name: keyof Faults): boolean {
    const probability = this.faults[name];
    const hit = probability > 0 && this.random() < probability;
    if (hit) this.injected[name] += 1;
    return hit;
  }
  resetInjected(): void {
    this.injected = noInjections();
  }
  between(range: { min: number; max: number }): number {
    return range.min + Math.round(this.random() * (range.max - range.min));
  }
  seed(): number {
    return Math.floor(this.random() * 2 ** 31);
  }
}
