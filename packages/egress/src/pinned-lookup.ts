import { lookup as systemLookup } from "node:dns/promises";
import type { LookupFunction } from "node:net";
import { isPublicAddress } from "./address-policy.ts";

/** A URL (or a redirect) that points where user-given URLs must not go. */
export class EgressRefusedError extends Error {
  readonly code = "egressRefused";
  constructor(message: string) {
    super(message);
    this.name = "EgressRefusedError";
  }
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Name → addresses. The system resolver (hosts file, then DNS) unless one is injected. */
export type Resolve = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export const resolveWithSystem: Resolve = (hostname) => systemLookup(hostname, { all: true, verbatim: true });

/**
 * The `lookup` of every socket the guarded fetch opens: it resolves the name once, refuses it when
 * any answer is not a public address (unless the host is allow-listed), and hands exactly those
 * checked addresses to the socket. The check and the connect therefore see the same answer: a name
 * that resolves to a public address for a check and to 127.0.0.1 a moment later for the connect
 * (DNS rebinding) cannot slip through, because there is no second resolution.
 *
 * Node calls lookup only for names; IP literals are checked before the request (`checkTarget`).
 */
export function pinnedLookup(resolve: Resolve, allowHosts: ReadonlySet<string>): LookupFunction {
  return (hostname, options, callback) => {
    resolveChecked(hostname, resolve, allowHosts).then(
      (resolved) => {
        const wanted = options.family === 4 || options.family === 6 ? options.family : undefined;
        const addresses = wanted ? resolved.filter((entry) => entry.family === wanted) : resolved;
        const [first] = addresses;
        if (!first) {
          const error = Object.assign(new Error(`${hostname} has no IPv${wanted} address`), {
            code: "ENOTFOUND",
          });
          callback(error, "", 0);
          return;
        }
        if (options.all)
          callback(
            null,
            addresses.map((entry) => ({ ...entry })),
          );
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, "", 0),
    );
  };
}

async function resolveChecked(
  hostname: string,
  resolve: Resolve,
  allowHosts: ReadonlySet<string>,
): Promise<readonly ResolvedAddress[]> {
  const addresses = await resolve(hostname);
  if (allowHosts.has(hostname)) return addresses;
  const blocked = addresses.find((entry) => !isPublicAddress(entry.address));
  if (blocked) {
    throw new EgressRefusedError(`${hostname} resolves to ${blocked.address}, which is not a public address`);
  }
  return addresses;
}
