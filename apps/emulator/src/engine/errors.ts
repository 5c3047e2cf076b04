/**
 * The one error class the engine throws for bad input. The server maps `code` to a provider error
 * object (e.g. downloadFailed → `downloadFailed`, invalidImage → `invalidImage`); callers match by
 * class and `code`, never by message.
 */
const ENGINE_INPUT_ERROR_CODES = [
  "downloadFailed",
  "inputTooLarge",
  "invalidImage",
  "imageNotFound",
  "invalidWatermark",
] as const;

export type EngineInputErrorCode = (typeof ENGINE_INPUT_ERROR_CODES)[number];

export class EngineInputError extends Error {
  override readonly name = "EngineInputError";
  readonly code: EngineInputErrorCode;
  /** The request field at fault, e.g. "inputs.image" or "advancedFeatures.watermark.text". */
  readonly field: string;

  constructor(code: EngineInputErrorCode, field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options);
    this.code = code;
    this.field = field;
  }
}
