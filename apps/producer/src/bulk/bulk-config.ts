import { envField, s3EnvFields, scratchEnvFields, sourceLimitEnvFields } from "@reframe/config";
import { DEFAULT_BULK_WINDOW, MAX_BULK_WINDOW } from "@reframe/jobs";
import { checkRedisEnv } from "@reframe/redis";
import { z } from "zod";
import { producerEnvFields } from "../producer-config.ts";

/**
 * `reframe bulk` and `reframe batch status` also read S3: they list prefixes, read image headers for
 * the estimate and download thumbnails for the report. Same variables as the worker's; pre-scaled
 * sources (the scratch area) are never taken for sources.
 */
export const bulkConfigSchema = z
  .object({
    ...producerEnvFields,
    ...s3EnvFields,
    ...scratchEnvFields,
    SOURCE_URL_ALLOW_HOSTS: envField.list([]),
    ...sourceLimitEnvFields,
    /** Jobs of a bulk run in the queue at a time (admission.ts); the rest wait in the batch's stream. */
    BULK_WINDOW: envField.int({ min: 1, max: MAX_BULK_WINDOW, default: DEFAULT_BULK_WINDOW }),
  })
  .superRefine(checkRedisEnv);
export type BulkConfig = z.output<typeof bulkConfigSchema>;
