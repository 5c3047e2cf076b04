/**
 * The job ids a streamed plan has met, to count a repeated job once, in 8 bytes a job instead of a
 * string in a Set (about 100 bytes): an open-addressing table of the first 64 bits of each id's
 * SHA-256 (job ids are `op-` + its hex, outpaintJobId). Two distinct jobs share those bits with a
 * probability of about n²/2^65: 3·10⁻⁸ for a million jobs, 3·10⁻⁶ for ten million; the one
 * consequence would be a job counted as a repeat and left out of the run, never a job added twice.
 */

export interface SeenJobs {
  /** True the first time an id is met, false for a repeat. */
  add(jobId: string): boolean;
  readonly size: number;
}

const INITIAL_SLOTS = 1 << 16;
/** Past this share of slots in use the table doubles: probes stay short. */
const MAX_LOAD = 0.75;

export function createSeenJobs(): SeenJobs {
  let slots = INITIAL_SLOTS;
  // Slot i holds the id's high and low 32 bits at 2i and 2i + 1; 0, 0 is an empty slot.
  let table = new Uint32Array(slots * 2);
  let size = 0;

  const insert = (into: Uint32Array, mask: number, high: number, low: number): boolean => {
    // SHA-256's bits are uniform: the first 32 choose the slot.
    let slot = high & mask;
    for (;;) {
      const at = slot * 2;
      const h = into[at]!;
      const l = into[at + 1]!;
      if (h === 0 && l === 0) {
        into[at] = high;
        into[at + 1] = low;
        return true;
      }
      if (h === high && l === low) return false;
      slot = (slot + 1) & mask;
    }
  };

  const grow = () => {
    const next = new Uint32Array(slots * 4);
    const mask = slots * 2 - 1;
    for (let slot = 0; slot < slots; slot += 1) {
      const high = table[slot * 2]!;
      const low = table[slot * 2 + 1]!;
      if (high !== 0 || low !== 0) insert(next, mask, high, low);
    }
    slots *= 2;
    table = next;
  };

  return {
    add(jobId) {
      const hex = jobId.startsWith("op-") ? jobId.slice(3, 19) : undefined;
      if (hex === undefined || !/^[0-9a-f]{16}$/.test(hex)) throw new TypeError(`not a job id: ${jobId}`);
      const high = Number.parseInt(hex.slice(0, 8), 16) >>> 0;
      // Never 0, 0: that marks an empty slot.
      const low = Number.parseInt(hex.slice(8, 16), 16) >>> 0 || (high === 0 ? 1 : 0);
      if (size + 1 > slots * MAX_LOAD) grow();
      const added = insert(table, slots - 1, high, low);
      if (added) size += 1;
      return added;
    },
    get size() {
      return size;
    },
  };
}
