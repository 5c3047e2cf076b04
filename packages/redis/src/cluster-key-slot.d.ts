// cluster-key-slot ships no types; these are the two functions of its lib/index.js that reframe uses.
declare module "cluster-key-slot" {
  /** The Redis Cluster slot (0–16383) of a key, honouring a {hash tag}. */
  export default function calculateSlot(key: string | Buffer): number;
  /** The slot shared by every key, or -1 when they do not all hash to one slot. */
  export function generateMulti(keys: readonly (string | Buffer)[]): number;
}
