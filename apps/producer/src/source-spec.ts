import type { OutpaintJobInput } from "@reframe/jobs";
import { UsageError } from "./cli/usage-error.ts";

/** `s3://bucket/key` or an http(s) URL, as typed on the command line. */
export function parseSourceSpec(spec: string): OutpaintJobInput["source"] {
  if (spec.startsWith("s3://")) {
    const rest = spec.slice("s3://".length);
    const slash = rest.indexOf("/");
    if (slash <= 0 || slash === rest.length - 1) {
      throw new UsageError(`--source ${spec}: expected s3://bucket/key`);
    }
    return { kind: "s3", bucket: rest.slice(0, slash), key: rest.slice(slash + 1) };
  }
  if (/^https?:\/\//.test(spec)) return { kind: "url", url: spec };
  throw new UsageError(`--source ${spec}: expected s3://bucket/key or an http(s) URL`);
}
