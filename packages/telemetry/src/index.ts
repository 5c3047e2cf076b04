export {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LoggerSettings,
  type LogLevel,
} from "./logger.ts";
export { REDACTED, redactText, redactUrl, redactValue } from "./redact.ts";
