import { envField } from "@reframe/config";
import { DEFAULT_BULK_WINDOW, MAX_BULK_WINDOW } from "@reframe/jobs";

/**
 * The one setting of runs, read by whatever drives one: `reframe bulk` (its CLI config) and the
 * workers that carry out pipeline runs. The window a run registers is kept with its stream, so the
 * admitters that top it up later follow the run's own window, whoever's config they read.
 */
export const runEnvFields = {
  /** Jobs of a run in the queue at a time (admission.ts); the rest wait in the batch's stream. */
  BULK_WINDOW: envField.int({ min: 1, max: MAX_BULK_WINDOW, default: DEFAULT_BULK_WINDOW }),
};
