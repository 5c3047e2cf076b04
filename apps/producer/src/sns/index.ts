export { hasIntakeCredentials, INTAKE_CHALLENGES } from "./intake-auth.ts";
export { createSnsIntake, type SnsIntake, type SnsIntakeOptions, type Unwrapped } from "./sns-intake.ts";
export { looksLikeSnsEnvelope, type SnsEnvelope, snsEnvelopeSchema, stringToSign } from "./sns-message.ts";
export {
  createSnsVerifier,
  DEFAULT_SNS_CERT_HOST_PATTERN,
  DEFAULT_SNS_MAX_AGE_MS,
  type SnsVerdict,
  type SnsVerifier,
  type SnsVerifierOptions,
} from "./sns-verifier.ts";
