import { envField } from "@reframe/config";
import { z } from "zod";

export const producerConfigSchema = z.object({
  REDIS_URL: envField.url({ protocols: ["redis:", "rediss:"] }),
  QUEUE_PREFIX: envField.string({ default: "{reframe}" }),
  /** Where outputs go when a command names no bucket. */
  OUTPUT_BUCKET: envField.string({ default: "" }).optional(),
});
export type ProducerConfig = z.output<typeof producerConfigSchema>;
