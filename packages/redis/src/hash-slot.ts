/// <reference path="./cluster-key-slot.d.ts" />
import calculateSlot, { generateMulti } from "cluster-key-slot";

/**
 * The hash tag Redis Cluster hashes instead of the whole key: the text between the first "{" and
 * the first "}" after it, when not empty. Undefined when the key has none (the whole key is hashed).
 */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf("{");
  if (open < 0) return undefined;
  const close = key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/** The Cluster slot (0–16383) of a key. */
export function slotOf(key: string): number {
  return calculateSlot(key);
}

/** Whether every key hashes to one Cluster slot (as a multi-key command or a Lua script needs). */
export function inOneSlot(keys: readonly string[]): boolean {
  return keys.length === 0 || generateMulti(keys) !== -1;
}
