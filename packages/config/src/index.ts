export { envField, s3EnvFields } from "./env.ts";
export { ConfigError, type ConfigIssue, type EnvSource, loadConfigOrExit, parseEnv } from "./parse-env.ts";
export { metricsEnvFields } from "./telemetry-env.ts";
