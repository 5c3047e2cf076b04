import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { isPublicAddress } from "./address-policy.ts";

/** A URL (or a redirect) that points where user-given URLs must not go. */
export class EgressRefusedError extends Error {
  readonly code = "egressRefused";
  constructor(message: string) {
    super(message);
    this.name = "EgressRefusedError";
  }
}

export interface EgressPolicy {
  /** Host names (or IP literals) reachable even on private addresses, e.g. a local S3 or CDN. */
  allowHosts?: readonly string[];
  /** Redirects followed at most (each one checked like the first URL). */
  maxRedirects?: number;
}

/** Refuses non-http(s) schemes and hosts that resolve to any non-public address (unless allow-listed). */
export async function assertPublicUrl(raw: string, policy: EgressPolicy = {}): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EgressRefusedError(`not a URL: ${raw.slice(0, 200)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EgressRefusedError(`only http and https URLs are fetched, not ${url.protocol}`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (policy.allowHosts?.includes(host)) return url;
  const addresses = isIP(host)
    ? [host]
    : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  const blocked = addresses.find((address) => !isPublicAddress(address));
  if (blocked) throw new EgressRefusedError(`${host} resolves to ${blocked}, which is not a public address`);
  return url;
}

/**
 * fetch for URLs given by users: every hop (the URL and each redirect) must be http(s) to a public
 * address. The check resolves the name before the request resolves it again, so a DNS answer that
 * changes in between (rebinding) is not caught here; an egress proxy is the complete answer.
 */
export async function guardedFetch(
  raw: string,
  init: RequestInit = {},
  policy: EgressPolicy = {},
): Promise<Response> {
  let url = await assertPublicUrl(raw, policy);
  for (let hop = 0; ; hop += 1) {
    const response = await fetch(url, { ...init, redirect: "manual" });
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || !location) return response;
    await response.body?.cancel();
    if (hop >= (policy.maxRedirects ?? 5))
      throw new EgressRefusedError(`more than ${policy.maxRedirects ?? 5} redirects from ${raw}`);
    url = await assertPublicUrl(new URL(location, url).href, policy);
  }
}
