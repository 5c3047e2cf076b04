import { parseArgs } from "node:util";
import {
  createEndpointStore,
  describeEndpoint,
  type Endpoint,
  EndpointError,
  parseDuration,
} from "@reframe/outbound";
import type { RedisClient } from "@reframe/redis";
import { type CliCommand, producerConfig, withOutpaintQueue } from "../cli/cli-command.ts";
import { UsageError } from "../cli/usage-error.ts";

export const ENDPOINTS_USAGE = `  reframe endpoints add <name> <url> [--secret whsec_…] [--event-types t1,t2]
                                                  declare an outbound webhook endpoint (a secret is generated
                                                  and shown once when none is given); route events to it
                                                  with --route webhook:<name>
  reframe endpoints list                          endpoints, their state and delivery counts (never secrets)
  reframe endpoints disable|enable <name>         stop or resume deliveries to it
  reframe endpoints rotate-secret <name> [--secret whsec_…] [--grace 24h]
                                                  a new secret signs at once; the old ones also sign for --grace`;

export interface OutboundContext {
  connection: RedisClient;
  prefix: string;
  print(line: string): void;
  now?: () => number;
}

const DEFAULT_GRACE = "24h";

/** `reframe endpoints …`; returns the exit code. */
export async function runEndpointsCommand(argv: string[], context: OutboundContext): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      secret: { type: "string" },
      "event-types": { type: "string" },
      grace: { type: "string" },
      reason: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  const now = context.now ?? Date.now;
  const store = createEndpointStore(context.connection, { prefix: context.prefix, now });
  const name = positionals[0];
  const needName = () => {
    if (!name) throw new UsageError(`endpoints ${sub} needs an endpoint name`);
    return name;
  };
  try {
    switch (sub) {
      case "add": {
        const url = positionals[1];
        if (!name || !url) throw new UsageError("endpoints add needs a name and a URL");
        const eventTypes = values["event-types"]
          ?.split(",")
          .map((type) => type.trim())
          .filter(Boolean);
        const { endpoint, generatedSecret } = await store.add({
          name,
          url,
          ...(values.secret === undefined ? {} : { secret: values.secret }),
          ...(eventTypes ? { eventTypes } : {}),
        });
        context.print(`endpoint ${endpoint.name} added: ${redactUrl(endpoint.url)}`);
        if (generatedSecret)
          context.print(`secret (shown once; give it to the receiver): ${generatedSecret}`);
        context.print(
          `route events to it with --route webhook:${endpoint.name} (or route: [webhook:${endpoint.name}])`,
        );
        return 0;
      }
      case "list": {
        const endpoints = await store.list();
        if (endpoints.length === 0) context.print("no endpoints (reframe endpoints add <name> <url>)");
        for (const endpoint of endpoints) context.print(describe(endpoint, now()));
        return 0;
      }
      case "disable": {
        const changed = await store.disable(
          needName(),
          values.reason ?? `disabled by hand at ${new Date(now()).toISOString()}`,
        );
        context.print(changed ? `endpoint ${name} disabled` : `endpoint ${name} was disabled already`);
        return 0;
      }
      case "enable": {
        const changed = await store.enable(needName());
        context.print(changed ? `endpoint ${name} enabled` : `endpoint ${name} was enabled already`);
        if (changed)
          context.print(
            `deliveries that failed while it was disabled: reframe deliveries retry --endpoint ${name} --since <time>`,
          );
        return 0;
      }
      case "rotate-secret": {
        const graceMs = parseDuration(values.grace ?? DEFAULT_GRACE);
        if (graceMs === undefined)
          throw new UsageError(`--grace ${values.grace}: must be a duration (e.g. 30m, 24h)`);
        const { secret } = await store.rotateSecret(needName(), {
          graceMs,
          ...(values.secret === undefined ? {} : { secret: values.secret }),
        });
        context.print(`new secret of ${name} (shown once): ${secret}`);
        context.print(`the previous secrets also sign until ${new Date(now() + graceMs).toISOString()}`);
        return 0;
      }
      default:
        throw new UsageError("endpoints needs add, list, disable, enable or rotate-secret");
    }
  } catch (error) {
    if (error instanceof EndpointError) throw new UsageError(error.message);
    throw error;
  }
}

function describe(endpoint: Endpoint, now: number): string {
  const shown = describeEndpoint(endpoint, now);
  const { state } = shown;
  const status =
    state.disabledAt === undefined
      ? "enabled"
      : `DISABLED since ${new Date(state.disabledAt).toISOString()}: ${state.disabledReason}`;
  const lines = [
    `${shown.name}  ${redactUrl(shown.url)}  ${status}`,
    `  event types: ${shown.eventTypes?.join(", ") ?? "all"};  signing secrets: ${shown.signingSecrets}`,
    `  attempts ${state.attempts}, delivered ${state.delivered}, failed ${state.failed}` +
      (state.lastSuccessAt ? `;  last success ${new Date(state.lastSuccessAt).toISOString()}` : "") +
      (state.failingSince ? `;  failing since ${new Date(state.failingSince).toISOString()}` : ""),
  ];
  return lines.join("\n");
}

/** A URL's user and password (Basic auth to the receiver) are secrets: never printed. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/\s@]+@/, "//[REDACTED]@");
}

export const endpointsCommand: CliCommand = {
  help: `${ENDPOINTS_USAGE}

  Exit codes: 0, 2 bad usage, 4 Redis unreachable.`,
  run: (args, io) =>
    withOutpaintQueue(producerConfig(io.env), (_queue, context) =>
      runEndpointsCommand(args, { ...context, print: (line) => io.out.write(`${line}\n`) }),
    ),
};
