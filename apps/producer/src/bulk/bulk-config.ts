import { envField, s3EnvFields, scratchEnvFields, sourceLimitEnvFields } from "@reframe/config";
import { checkRedisEnv } from "@reframe/redis";
import { runEnvFields } from "@reframe/runs";
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
    ...runEnvFields,
  })
  .superRefine(checkRedisEnv);
export type BulkConfig = z.output<typeof bulkConfigSchema>;
