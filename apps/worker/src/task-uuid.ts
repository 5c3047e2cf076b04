import { createHash } from "node:crypto";

/**
 * taskUUIDs are UUID v5 (RFC 9562 §5.5) of `jobId/variant/generation` under a fixed namespace, so a
 * worker that crashes between the POST and saving its state submits the same taskUUID again — which
 * the provider answers with `conflictTaskUUID` ("already accepted") instead of generating twice.
 */
const TASK_UUID_NAMESPACE = "3c6e0b8a-9b1f-5d7e-8f43-52a0c1d0e7aa";

export function taskUUIDFor(jobId: string, variant: number, generation: number): string {
  const namespace = Buffer.from(TASK_UUID_NAMESPACE.replaceAll("-", ""), "hex");
  const digest = createHash("sha1").update(namespace).update(`${jobId}/${variant}/${generation}`).digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50; // version 5
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80; // RFC 4122 variant
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
