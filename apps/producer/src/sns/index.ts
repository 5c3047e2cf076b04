export { hasIntakeCredentials, INTAKE_CHALLENGES } from "./intake-auth.ts";
export { createSnsIntake, type SnsIntake } from "./sns-intake.ts";

export {
  createSnsVerifier,
  DEFAULT_SNS_CERT_HOST_PATTERN,
  DEFAULT_SNS_MAX_AGE_MS,
} from "./sns-verifier.ts";
