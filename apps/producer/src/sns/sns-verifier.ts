import { verify, X509Certificate } from "node:crypto";
import type { GuardedFetch } from "@reframe/egress";
import { type SnsEnvelope, snsEnvelopeSchema, stringToSign } from "./sns-message.ts";

/**
 * Verification of Amazon SNS messages, written against AWS's documentation ("Verifying the
 * signatures of Amazon SNS messages") rather than taken from `sns-validator` or
 * `sns-payload-validator`: both fetch the signing certificate themselves with Node's `https`,
 * around reframe's egress guard (its private-address refusal, DNS pinning and allow-list), and
 * neither checks the topic or the message's age. The checks, in order, cheapest first; the first
 * that fails refuses the message and nothing else happens:
 *   1. the envelope's shape, SignatureVersion 1 (SHA1withRSA) or 2 (SHA256withRSA);
 *   2. SigningCertURL (and SubscribeURL) are https on a host matching the pattern (AWS's SNS hosts
 *      by default), the certificate a .pem;
 *   3. the topic is allowed (SNS_TOPIC_ARNS);
 *   4. the message is not older than the replay window, nor from the future (clock skew aside);
 *   5. the signature, against the certificate (fetched through the egress guard, cached by URL).
 */

/** sns.<region>.amazonaws.com, and the China regions' amazonaws.com.cn. */
export const DEFAULT_SNS_CERT_HOST_PATTERN = "^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$";
/** SNS's retries of one message use its original Timestamp; an hour covers the default policy. */
export const DEFAULT_SNS_MAX_AGE_MS = 60 * 60 * 1000;
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const CERT_CACHE_TTL_MS = 24 * 60 * 60 * 1000;
const CERT_CACHE_MAX = 100;
const CERT_MAX_BYTES = 64 * 1024;

type SnsVerdict = { ok: true; envelope: SnsEnvelope } | { ok: false; status: 400 | 403 | 502; rule: string };

export interface SnsVerifierOptions {
  /** The certificate's fetch, through the egress guard (SNS_ALLOW_HOSTS). */
  fetch: GuardedFetch["fetch"];
  hostPattern: RegExp;
  topicArns: readonly string[];
  maxAgeMs: number;
  now?: () => number;
}

export interface SnsVerifier {
  verify(body: unknown): Promise<SnsVerdict>;
  /** The https + host rule, also for SubscribeURL. */
  checkAwsUrl(url: string | undefined, field: string): string | undefined;
}

export function createSnsVerifier(options: SnsVerifierOptions): SnsVerifier {
  const now = options.now ?? Date.now;
  const topics = new Set(options.topicArns);
  const certificates = new Map<string, { certificate: Promise<X509Certificate>; at: number }>();

  function checkAwsUrl(raw: string | undefined, field: string): string | undefined {
    if (!raw) return `${field} is missing`;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return `${field} is not a URL`;
    }
    if (url.protocol !== "https:") return `${field} must be https`;
    if (url.username || url.password) return `${field} must not carry credentials`;
    if (!options.hostPattern.test(url.hostname))
      return `${field} host ${url.hostname} does not match the SNS certificate host pattern`;
    return undefined;
  }

  async function fetchCertificate(url: string): Promise<X509Certificate> {
    const response = await options.fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`the signing certificate answered HTTP ${response.status}`);
    }
    const pem = await response.text();
    if (pem.length > CERT_MAX_BYTES) throw new Error("the signing certificate is too large");
    return new X509Certificate(pem);
  }

  function certificateOf(url: string): Promise<X509Certificate> {
    const cached = certificates.get(url);
    if (cached && now() - cached.at < CERT_CACHE_TTL_MS) return cached.certificate;
    if (certificates.size >= CERT_CACHE_MAX) certificates.delete(certificates.keys().next().value!);
    const certificate = fetchCertificate(url);
    certificates.set(url, { certificate, at: now() });
    // A failed fetch is not remembered: the next message tries again.
    certificate.catch(() => certificates.delete(url));
    return certificate;
  }

  return {
    checkAwsUrl,
    async verify(body) {
      const parsed = snsEnvelopeSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return {
          ok: false,
          status: 400,
          rule: `SNS message ${issue.path.join(".") || "(body)"}: ${issue.message}`,
        };
      }
      const envelope = parsed.data;
      const certProblem = checkAwsUrl(envelope.SigningCertURL, "SigningCertURL");
      if (certProblem) return { ok: false, status: 403, rule: certProblem };
      if (!new URL(envelope.SigningCertURL).pathname.endsWith(".pem"))
        return { ok: false, status: 403, rule: "SigningCertURL must name a .pem certificate" };
      if (!topics.has(envelope.TopicArn))
        return { ok: false, status: 403, rule: `topic ${envelope.TopicArn} is not in SNS_TOPIC_ARNS` };
      const age = now() - Date.parse(envelope.Timestamp);
      if (age > options.maxAgeMs)
        return {
          ok: false,
          status: 403,
          rule: `message of ${envelope.Timestamp} is older than the replay window (${options.maxAgeMs} ms)`,
        };
      if (age < -CLOCK_SKEW_MS)
        return { ok: false, status: 403, rule: `message of ${envelope.Timestamp} is from the future` };
      let certificate: X509Certificate;
      try {
        certificate = await certificateOf(envelope.SigningCertURL);
      } catch (error) {
        return {
          ok: false,
          status: 502,
          rule: `the signing certificate could not be read: ${(error as Error).message}`,
        };
      }
      const at = new Date(now());
      if (at < new Date(certificate.validFrom) || at > new Date(certificate.validTo))
        return { ok: false, status: 403, rule: "the signing certificate is not valid now" };
      const valid = verify(
        envelope.SignatureVersion === "1" ? "sha1" : "sha256",
        Buffer.from(stringToSign(envelope), "utf8"),
        certificate.publicKey,
        Buffer.from(envelope.Signature, "base64"),
      );
      if (!valid) return { ok: false, status: 403, rule: "the signature does not match the message" };
      return { ok: true, envelope };
    },
  };
}
