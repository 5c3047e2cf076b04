import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * The dashboard's session, without server-side state (any API replica can check it): a cookie
 * `v1.<expiresAt>.<nonce>.<mac>`, the MAC keyed by the tokens that may log in, so changing a token
 * ends every session. The CSRF token of a session is derived from its nonce with the same key:
 * pages put it in each form, and an action must carry it back.
 */

export const SESSION_COOKIE = "reframe_dashboard";
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export interface SessionKeys {
  /** The tokens that log in: DASHBOARD_TOKEN, else API_TOKEN. */
  tokens: readonly string[];
}

function keyOf(keys: SessionKeys): Buffer {
  return createHash("sha256")
    .update(`reframe dashboard session\n${keys.tokens.join("\n")}`)
    .digest();
}

const mac = (keys: SessionKeys, text: string) =>
  createHmac("sha256", keyOf(keys)).update(text).digest("base64url");

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Constant time: is this one of the tokens that log in? */
export function isLoginToken(keys: SessionKeys, given: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return keys.tokens.some((token) => timingSafeEqual(digest(token), digest(given)));
}

export function newSession(keys: SessionKeys, now: number): string {
  const body = `v1.${now + SESSION_TTL_MS}.${randomBytes(18).toString("base64url")}`;
  return `${body}.${mac(keys, body)}`;
}

/** The session's nonce when the cookie is genuine and not expired, else undefined. */
export function readSession(keys: SessionKeys, cookie: string | undefined, now: number): string | undefined {
  if (!cookie) return undefined;
  const parts = cookie.split(".");
  if (parts.length !== 4 || parts[0] !== "v1") return undefined;
  const body = parts.slice(0, 3).join(".");
  if (!sameText(mac(keys, body), parts[3]!)) return undefined;
  if (!(Number(parts[1]) > now)) return undefined;
  return parts[2];
}

export function csrfTokenOf(keys: SessionKeys, nonce: string): string {
  return mac(keys, `csrf\n${nonce}`);
}

export function isCsrfToken(keys: SessionKeys, nonce: string, given: unknown): boolean {
  return typeof given === "string" && sameText(csrfTokenOf(keys, nonce), given);
}

/** A picture's URL is signed for the page that showed it: the dashboard reads no other object. */
export function signRef(keys: SessionKeys, ref: string): string {
  return mac(keys, `thumb\n${ref}`);
}

export function isSignedRef(keys: SessionKeys, ref: string, signature: unknown): boolean {
  return typeof signature === "string" && sameText(signRef(keys, ref), signature);
}
