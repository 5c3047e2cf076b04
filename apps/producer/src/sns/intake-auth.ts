import { timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";

/**
 * The intake's credential, in either form a notifier can send: `Authorization: Bearer <token>`
 * (MinIO, EventBridge API destinations, scripts) or HTTP Basic with the token as the password (SNS
 * cannot set a header; its subscription URL carries `https://reframe:<token>@host/…`, the user name
 * is not checked). Compared in constant time.
 */
export function hasIntakeCredentials(request: FastifyRequest, token: string): boolean {
  const given = request.headers.authorization ?? "";
  const basic = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(given);
  if (!basic) return sameText(given, `Bearer ${token}`);
  const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon >= 0 && sameText(decoded.slice(colon + 1), token);
}

/** What a 401 of the intake asks for: SNS answers only a Basic challenge that names a realm. */
export const INTAKE_CHALLENGES = ['Basic realm="reframe intake", charset="UTF-8"', "Bearer"];

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
