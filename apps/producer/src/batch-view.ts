import type { BatchStatus } from "@reframe/jobs";

/**
 * A batch's status as the API answers it (GET /v1/batches/:id) and `reframe batch status --json`
 * prints it: the counts, with the batch's kind, creation time and description at the top level.
 */
export function batchView(status: BatchStatus) {
  const { info, ...counts } = status;
  return { ...counts, kind: info.kind, createdAt: info.createdAt, description: info.description };
}
