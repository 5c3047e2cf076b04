import { envField } from "@reframe/config";
import type { z } from "zod";
import { producerConfigSchema } from "../producer-config.ts";

/**
 * `reframe bulk` and `reframe batch status` also read S3: they list prefixes, read image headers for
 * the estimate and download thumbnails for the report. Same variables as the worker's.
 */
export const bulkConfigSchema = producerConfigSchema.extend({
  S3_ENDPOINT: envField.url({ default: "" }).optional(),
  S3_REGION: envField.string({ default: "us-east-1" }),
  S3_FORCE_PATH_STYLE: envField.boolean(false),
  S3_ACCESS_KEY_ID: envField.string(),
  S3_SECRET_ACCESS_KEY: envField.string(),
  /** Pre-scaled sources land here: a listing of this area is never taken for sources. */
  SCRATCH_BUCKET: envField.string({ default: "" }).optional(),
  SCRATCH_PREFIX: envField.string({ default: "_reframe-scratch/" }),
  SOURCE_URL_ALLOW_HOSTS: envField.list([]),
});
export type BulkConfig = z.output<typeof bulkConfigSchema>;
