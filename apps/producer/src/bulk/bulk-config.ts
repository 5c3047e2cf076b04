import { envField, s3EnvFields, sourceLimitEnvFields } from "@reframe/config";
import type { z } from "zod";
import { producerConfigSchema } from "../producer-config.ts";

/**
 * `reframe bulk` and `reframe batch status` also read S3: they list prefixes, read image headers for
 * the estimate and download thumbnails for the report. Same variables as the worker's.
 */
export const bulkConfigSchema = producerConfigSchema.extend({
  ...s3EnvFields,
  /** Pre-scaled sources land here: a listing of this area is never taken for sources. */
  SCRATCH_BUCKET: envField.string({ default: "" }).optional(),
  SCRATCH_PREFIX: envField.string({ default: "_reframe-scratch/" }),
  SOURCE_URL_ALLOW_HOSTS: envField.list([]),
  ...sourceLimitEnvFields,
});
export type BulkConfig = z.output<typeof bulkConfigSchema>;
