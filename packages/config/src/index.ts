export {
  DEFAULT_SOURCE_LIMITS,
  envField,
  s3EnvFields,
  sourceLimitEnvFields,
  sourceLimitsOf,
} from "./env.ts";
export { ConfigError, type ConfigIssue, type EnvSource, loadConfigOrExit, parseEnv } from "./parse-env.ts";
