import { isIP } from "node:net";
import { Agent, fetch, type RequestInit, type Response } from "undici";
import { isPublicAddress } from "./address-policy.ts";
import { EgressRefusedError, pinnedLookup, type Resolve, resolveWithSystem } from "./pinned-lookup.ts";

export interface EgressPolicy {
  /** Host names (or IP literals) reachable even on private addresses, e.g. a local S3 or CDN. */
  allowHosts?: readonly string[];
  /** Redirects followed at most (each one checked like the first URL). */
  maxRedirects?: number;
  /** Name resolution; the system resolver by default. */
  resolve?: Resolve;
  /** Bound on opening one connection (undici's default is 10 s). */
  connectTimeoutMs?: number;
  /** Answer a redirect with the 3xx response itself instead of following it (signed deliveries). */
  returnRedirects?: boolean;
  /** Certificate authorities trusted instead of Node's (PEM): a test's or a private network's CA. */
  ca?: string;
}

/** fetch for URLs users give, and the connections it keeps; close it when the process stops. */
export interface GuardedFetch {
  fetch(url: string, init?: Omit<RequestInit, "redirect" | "dispatcher">): Promise<Response>;
  close(): Promise<void>;
}

const DEFAULT_MAX_REDIRECTS = 5;

/**
 * Outbound HTTP for user-given URLs: every hop (the URL and each redirect) must be http(s) to public
 * addresses only, unless its host is allow-listed. IP literals are checked before the request; names
 * are checked inside the connection's own lookup, so the address connected to is the address that
 * was checked (see pinned-lookup.ts).
 */
export function createGuardedFetch(policy: EgressPolicy = {}): GuardedFetch {
  const allowHosts = new Set(policy.allowHosts ?? []);
  const maxRedirects = policy.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const agent = new Agent({
    connect: {
      lookup: pinnedLookup(policy.resolve ?? resolveWithSystem, allowHosts),
      ...(policy.connectTimeoutMs === undefined ? {} : { timeout: policy.connectTimeoutMs }),
      ...(policy.ca === undefined ? {} : { ca: policy.ca }),
    },
  });
  return {
    async fetch(raw, init = {}) {
      let url = checkTarget(raw, allowHosts);
      for (let hop = 0; ; hop += 1) {
        const response = await fetchOnce(url, init, agent);
        const location = response.headers.get("location");
        if (response.status < 300 || response.status >= 400 || !location || policy.returnRedirects)
          return response;
        await response.body?.cancel();
        if (hop >= maxRedirects)
          throw new EgressRefusedError(`more than ${maxRedirects} redirects from ${raw}`);
        url = checkTarget(new URL(location, url).href, allowHosts);
      }
    },
    close: () => agent.close(),
  };
}

/** The checks that need no resolution: a URL, http(s), and no private IP literal. */
function checkTarget(raw: string, allowHosts: ReadonlySet<string>): URL {
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
  if (isIP(host) && !allowHosts.has(host) && !isPublicAddress(host)) {
    throw new EgressRefusedError(`${host} is not a public address`);
  }
  return url;
}

async function fetchOnce(
  url: URL,
  init: Omit<RequestInit, "redirect" | "dispatcher">,
  agent: Agent,
): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: "manual", dispatcher: agent });
  } catch (error) {
    // undici reports a refused lookup as TypeError("fetch failed") with the refusal as its cause.
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof EgressRefusedError) throw cause;
    throw error;
  }
}
