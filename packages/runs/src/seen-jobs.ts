import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The job ids a streamed plan has met, to count a repeated job once, in bounded memory whatever the
 * library's size. Each id is kept as the first 64 bits of its SHA-256 (job ids are `op-` + its hex,
 * outpaintJobId). Two distinct jobs share those bits with a probability of about n²/2^65: 3·10⁻⁸ for a
 * million jobs, 3·10⁻⁶ for ten million; the one consequence would be a job counted as a repeat and
 * left out of the run, never a job added twice.
 *
 * The newest ids are in an open-addressing table of 8 bytes an id. When it holds `runSize` ids, they
 * are sorted and written to a file (a run), and only a Bloom filter (10 bits an id, about 1% false
 * positives) and the first id of each 4 KiB block stay in memory: 1.3 bytes an id instead of 10.7, so a
 * ten-million-row plan holds about 13 MB of runs' summaries instead of 190 MB of tables. An id the
 * filter may hold is looked up in its run's file (one 4 KiB read); ids are SHA-256 bits, so repeats
 * are rare and the reads few.
 */
export interface SeenJobs {
  /** True the first time an id is met, false for a repeat. */
  add(jobId: string): boolean;
  readonly size: number;
  /** Ids written out to runs (for tests and figures). */
  readonly spilled: number;
  /** Removes the runs' files. The set is not used afterwards. */
  close(): void;
}

export interface SeenJobsOptions {
  /** Ids kept in the table before they are written out as a run (default 1,048,576: a 16 MiB table). */
  runSize?: number;
  /** Where the runs' directory is made (default the system's temporary directory). */
  directory?: string;
}

const DEFAULT_RUN_SIZE = 1 << 20;
const INITIAL_SLOTS = 1 << 16;
/** Past this share of slots in use the table doubles: probes stay short. */
const MAX_LOAD = 0.75;
/** 10 bits an id and 7 probes: about 0.8% false positives. */
const BLOOM_BITS_PER_ID = 10;
const BLOOM_PROBES = 7;
/** Ids in a block of a run's file: one read of 4 KiB finds an id. */
const BLOCK_IDS = 512;

interface Run {
  fd: number;
  ids: number;
  bloom: Uint32Array;
  bloomBits: number;
  /** The first id of each block. */
  firsts: BigUint64Array;
}

export function createSeenJobs(options: SeenJobsOptions = {}): SeenJobs {
  const runSize = options.runSize ?? DEFAULT_RUN_SIZE;
  let slots = INITIAL_SLOTS;
  // Slot i holds the id's high and low 32 bits at 2i and 2i + 1; 0, 0 is an empty slot.
  let table = new Uint32Array(slots * 2);
  let inTable = 0;
  let spilled = 0;
  const runs: Run[] = [];
  let directory: string | undefined;
  const block = new BigUint64Array(BLOCK_IDS);
  const blockBytes = new Uint8Array(block.buffer);

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

  const inTableNow = (high: number, low: number): boolean => {
    const mask = slots - 1;
    let slot = high & mask;
    for (;;) {
      const h = table[slot * 2]!;
      const l = table[slot * 2 + 1]!;
      if (h === 0 && l === 0) return false;
      if (h === high && l === low) return true;
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

  /** The filter's bit positions: double hashing over the id's two uniform halves. */
  const bloomBit = (high: number, low: number, probe: number, bits: number): number =>
    ((high + Math.imul(probe, low | 1)) >>> 0) % bits;

  const spill = () => {
    const ids = new BigUint64Array(inTable);
    let n = 0;
    for (let slot = 0; slot < slots; slot += 1) {
      const high = table[slot * 2]!;
      const low = table[slot * 2 + 1]!;
      if (high !== 0 || low !== 0) ids[n++] = (BigInt(high) << 32n) | BigInt(low);
    }
    ids.sort();
    const bloomBits = Math.max(64, inTable * BLOOM_BITS_PER_ID);
    const bloom = new Uint32Array(Math.ceil(bloomBits / 32));
    const firsts = new BigUint64Array(Math.ceil(inTable / BLOCK_IDS));
    for (let i = 0; i < inTable; i += 1) {
      const id = ids[i]!;
      const high = Number(id >> 32n);
      const low = Number(id & 0xffffffffn);
      for (let probe = 0; probe < BLOOM_PROBES; probe += 1) {
        const bit = bloomBit(high, low, probe, bloomBits);
        bloom[bit >>> 5]! |= 1 << (bit & 31);
      }
      if (i % BLOCK_IDS === 0) firsts[i / BLOCK_IDS] = id;
    }
    directory ??= mkdtempSync(join(options.directory ?? tmpdir(), "reframe-seen-jobs-"));
    const fd = openSync(join(directory, `run-${runs.length}`), "w+");
    writeSync(fd, new Uint8Array(ids.buffer, 0, inTable * 8));
    runs.push({ fd, ids: inTable, bloom, bloomBits, firsts });
    spilled += inTable;
    slots = INITIAL_SLOTS;
    table = new Uint32Array(slots * 2);
    inTable = 0;
  };

  const inRun = (run: Run, high: number, low: number): boolean => {
    for (let probe = 0; probe < BLOOM_PROBES; probe += 1) {
      const bit = bloomBit(high, low, probe, run.bloomBits);
      if ((run.bloom[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    const id = (BigInt(high) << 32n) | BigInt(low);
    // The last block whose first id is at most this id.
    let lo = 0;
    let hi = run.firsts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (run.firsts[mid]! <= id) lo = mid;
      else hi = mid - 1;
    }
    if (run.firsts[lo]! > id) return false;
    const count = Math.min(BLOCK_IDS, run.ids - lo * BLOCK_IDS);
    readSync(run.fd, blockBytes, 0, count * 8, lo * BLOCK_IDS * 8);
    let a = 0;
    let b = count - 1;
    while (a <= b) {
      const mid = (a + b) >>> 1;
      const at = block[mid]!;
      if (at === id) return true;
      if (at < id) a = mid + 1;
      else b = mid - 1;
    }
    return false;
  };

  const close = () => {
    for (const run of runs.splice(0)) closeSync(run.fd);
    if (directory) rmSync(directory, { recursive: true, force: true });
    directory = undefined;
  };
  // A plan stopped by an error or Ctrl-C leaves no runs behind.
  process.once("exit", close);

  return {
    add(jobId) {
      const hex = jobId.startsWith("op-") ? jobId.slice(3, 19) : undefined;
      if (hex === undefined || !/^[0-9a-f]{16}$/.test(hex)) throw new TypeError(`not a job id: ${jobId}`);
      const high = Number.parseInt(hex.slice(0, 8), 16) >>> 0;
      // Never 0, 0: that marks an empty slot.
      const low = Number.parseInt(hex.slice(8, 16), 16) >>> 0 || (high === 0 ? 1 : 0);
      if (inTableNow(high, low)) return false;
      for (const run of runs) if (inRun(run, high, low)) return false;
      if (inTable + 1 > slots * MAX_LOAD) grow();
      insert(table, slots - 1, high, low);
      inTable += 1;
      if (inTable >= runSize) spill();
      return true;
    },
    get size() {
      return spilled + inTable;
    },
    get spilled() {
      return spilled;
    },
    close() {
      process.removeListener("exit", close);
      close();
    },
  };
}
