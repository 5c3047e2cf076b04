export { envField, s3EnvFields, scratchEnvFields } from "./env.ts";
export { ConfigError, type ConfigIssue, type EnvSource, loadConfigOrExit, parseEnv } from "./parse-env.ts";
