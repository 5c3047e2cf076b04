import { envField } from "@reframe/config";
import { checkRedisEnv, redisEnvFields } from "@reframe/redis";
import { z } from "zod";

/** The CLI's variables; `reframe bulk` and `reframe batch` add theirs (bulk-config.ts). */
export const producerEnvFields = {
  ...redisEnvFields,
  /** Where outputs go when a command names no bucket. */
  OUTPUT_BUCKET: envField.string({ default: "" }).optional(),
};
export const producerConfigSchema = z.object(producerEnvFields).superRefine(checkRedisEnv);
export type ProducerConfig = z.output<typeof producerConfigSchema>;
