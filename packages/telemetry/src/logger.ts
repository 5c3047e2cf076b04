import { type Logger, type LoggerOptions, pino } from "pino";
import pretty from "pino-pretty";
import { redactText, redactValue } from "./redact.ts";

export type { Logger };

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerSettings {
  /** The process or component, e.g. "worker"; every line carries it. */
  name: string;
  level?: LogLevel;
  /** JSON lines by default; "pretty" for a person at a terminal. */
  format?: LogFormat;
  /** Where lines go; standard output by default. */
  destination?: NodeJS.WritableStream;
}

/**
 * A pino logger whose every line passes through the redaction of `redact.ts`: the merge object is
 * walked (secret keys, URLs inside strings) and so is the message, since callers interpolate URLs
 * and errors into messages.
 */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    name: settings.name,
    level: settings.level ?? "info",
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: {
      err: (error: unknown) => redactValue(error),
      error: (error: unknown) => redactValue(error),
    },
    formatters: { log: (object) => redactValue(object) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((arg) => (typeof arg === "string" ? redactText(arg) : arg));
        return method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
  };
  const destination = settings.destination ?? process.stdout;
  if (settings.format === "pretty") {
    return pino(
      options,
      pretty({ destination, sync: true, colorize: "isTTY" in destination && Boolean(destination.isTTY) }),
    );
  }
  return pino(options, destination);
}
