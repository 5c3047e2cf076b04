import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseOutpaintJob } from "./enqueue.ts";
import { formatIssuePath, JobValidationError } from "./errors.ts";
import {
  canonicalJson,
  jobIdentityJson,
  type OutpaintJobInput,
  outpaintJobId,
  sourceIdentity,
} from "./outpaint-job.ts";

const minimal: OutpaintJobInput = {
  source: { kind: "s3", bucket: "sources", key: "photos/cat.jpg", etag: "abc123" },
  target: { kind: "ratio", ratio: "16:9" },
  output: { bucket: "outputs" },
};

function issuesOf(input: unknown) {
  try {
    parseOutpaintJob(input);
  } catch (error) {
    if (error instanceof JobValidationError) return error.issues;
    throw error;
  }
  throw new Error("expected a JobValidationError");
}

const idOf = (input: unknown) => outpaintJobId(parseOutpaintJob(input));

describe("outpaintJobSchema", () => {
  it("fills every default when only source, target and output bucket are given", () => {
    const job = parseOutpaintJob(minimal);
    expect(job.output).toEqual({
      bucket: "outputs",
      keyTemplate: "{prefix}{target}/{dir}{name}.{ext}",
      format: "JPG",
      quality: 90,
    });
    expect(job.options).toEqual({
      mode: "high",
      autoCrop: false,
      variants: 1,
      safety: false,
      overLimit: "prescale",
      deadlineSeconds: 900,
    });
    expect(job.route).toEqual([]);
    expect(job.labels).toEqual({});
    expect(job.processingVersion).toBe("1");
  });

  it("names the field and the rule when quality is out of range", () => {
    expect(issuesOf({ ...minimal, output: { bucket: "outputs", quality: 10 } })).toEqual([
      { path: ["output", "quality"], rule: "must be at least 20" },
    ]);
  });

  it("says a missing target is required", () => {
    const { target: _omitted, ...withoutTarget } = minimal;
    expect(issuesOf(withoutTarget)).toEqual([{ path: ["target"], rule: "is required" }]);
  });

  it("rejects a misspelt option instead of ignoring it", () => {
    const [issue] = issuesOf({ ...minimal, options: { varaints: 2 } });
    expect(issue?.path).toEqual(["options"]);
    expect(issue?.rule).toContain("varaints");
  });

  it("rejects a route entry containing ':' (other than webhook:NAME) with its index", () => {
    const rule =
      "must be a queue name (letters, digits, '.', '_', '-') or webhook:<endpoint name> (no other ':')";
    expect(issuesOf({ ...minimal, route: ["cdn-purge", "bad:name", "webhook:dam", "webhook:a:b"] })).toEqual([
      { path: ["route", 1], rule },
      { path: ["route", 3], rule },
    ]);
  });

  it("rejects a key template with an unknown field or without {name}", () => {
    const [unknown] = issuesOf({
      ...minimal,
      output: { bucket: "outputs", keyTemplate: "{prefix}{size}/{name}.{ext}" },
    });
    expect(unknown).toMatchObject({ path: ["output", "keyTemplate"] });
    expect(unknown?.rule).toContain("{size}");
    expect(issuesOf({ ...minimal, output: { bucket: "outputs", keyTemplate: "{prefix}x.{ext}" } })).toEqual([
      { path: ["output", "keyTemplate"], rule: "must contain {name}" },
    ]);
  });

  it("rejects a URL source that is not http(s) and variants above 8", () => {
    const issues = issuesOf({
      ...minimal,
      source: { kind: "url", url: "file:///etc/passwd" },
      options: { variants: 9 },
    });
    expect(issues.map((issue) => formatIssuePath(issue.path)).sort()).toEqual([
      "options.variants",
      "source.url",
    ]);
  });

  it("lists a route queue once when it is repeated", () => {
    expect(parseOutpaintJob({ ...minimal, route: ["a", "b", "a"] }).route).toEqual(["a", "b"]);
  });
});

describe("outpaintJobId", () => {
  it("is op- and 64 hex digits: no ':' and never all digits", () => {
    expect(idOf(minimal)).toMatch(/^op-[0-9a-f]{64}$/);
  });

  it("does not depend on the order of keys or on spelling out the defaults", () => {
    const reordered = {
      output: { quality: 90, bucket: "outputs" },
      target: { ratio: "16:9", kind: "ratio" },
      source: { etag: "abc123", key: "photos/cat.jpg", bucket: "sources", kind: "s3" },
      options: { variants: 1, mode: "high" },
    };
    expect(idOf(reordered)).toBe(idOf(minimal));
  });

  it("differs for a different target, source version or output format", () => {
    const base = idOf(minimal);
    expect(idOf({ ...minimal, target: { kind: "ratio", ratio: "1:1" } })).not.toBe(base);
    expect(idOf({ ...minimal, source: { ...minimal.source, etag: "def456" } })).not.toBe(base);
    expect(idOf({ ...minimal, output: { bucket: "outputs", format: "PNG" } })).not.toBe(base);
  });

  it("keeps the ids of jobs from before the canvas policy options, also with those options spelled out at their defaults", () => {
    // Ids issued before fit, maxUpscale and maxGeneratedShare existed: nightly runs must find them.
    const story = { ...minimal, target: { kind: "preset", name: "instagram-story" } };
    const defaults = { fit: "fit", maxUpscale: 4, maxGeneratedShare: 0.9 };
    expect(idOf(minimal)).toBe("op-270d70e0440f985e34e838a509fae6d94be2e4d217df9d037c618aff8e2edfed");
    expect(idOf(story)).toBe("op-6884c1de1b6a434cb16588118bc4097f7eb452a428800d76004b59bd584f749a");
    expect(idOf({ ...minimal, options: defaults })).toBe(idOf(minimal));
    expect(idOf({ ...story, options: defaults })).toBe(idOf(story));
    expect(parseOutpaintJob({ ...story, options: defaults }).options).toEqual(
      parseOutpaintJob(story).options,
    );
    for (const changed of [{ fit: "down-only" }, { maxUpscale: 2 }, { maxGeneratedShare: 1 }])
      expect(idOf({ ...story, options: changed })).not.toBe(idOf(story));
  });

  it("names the field and the rule for a bad canvas policy", () => {
    expect(
      issuesOf({ ...minimal, options: { fit: "stretch", maxUpscale: 0.5, maxGeneratedShare: 90 } }),
    ).toEqual([
      { path: ["options", "fit"], rule: "must be fit or down-only" },
      { path: ["options", "maxUpscale"], rule: "must be at least 1" },
      { path: ["options", "maxGeneratedShare"], rule: "must be from 0 to 1" },
    ]);
  });

  it("treats a quoted ETag (HEAD) and an unquoted one (S3 event) as the same source", () => {
    expect(idOf({ ...minimal, source: { ...minimal.source, etag: '"abc123"' } })).toBe(idOf(minimal));
  });

  it("ignores labels and dimension hints but not the route", () => {
    const base = idOf(minimal);
    expect(idOf({ ...minimal, labels: { batchId: "night-2", requester: "cron" } })).toBe(base);
    expect(idOf({ ...minimal, source: { ...minimal.source, width: 800, height: 600 } })).toBe(base);
    expect(idOf({ ...minimal, route: ["cdn-purge"] })).not.toBe(base);
    expect(idOf({ ...minimal, route: ["a", "b"] })).toBe(idOf({ ...minimal, route: ["b", "a"] }));
  });

  it("keeps the id a route of queues had before endpoints existed (webhook:NAME entries are new)", () => {
    // Computed on the code before outbound endpoints: changing it would re-buy users' libraries.
    expect(idOf({ ...minimal, route: ["cdn-purge", "dam"] })).toBe(
      "op-b7b078bc5e88e15c89dbabf00ddb4418cffa79f18f7b1a7444bd123006b1862d",
    );
    expect(idOf({ ...minimal, route: ["cdn-purge", "webhook:dam"] })).not.toBe(
      idOf({ ...minimal, route: ["cdn-purge", "dam"] }),
    );
  });
});

describe("jobIdentityJson", () => {
  it("is canonicalJson of the identity, so ids are what they always were", () => {
    const inputs = [
      minimal,
      { ...minimal, target: { kind: "margins", top: 0, right: 64, bottom: 10, left: 0 }, route: ["b", "a"] },
      { ...minimal, target: { kind: "preset", name: "x-header", anchor: { x: 0.25, y: 1 } } },
      {
        source: { kind: "url", url: "https://cdn.example.com/a b.jpg" },
        target: { kind: "size", width: 1080, height: 1350, anchor: "top" },
        output: {
          bucket: "outputs",
          prefix: "x/",
          format: "WEBP",
          quality: 80,
          keyTemplate: "{prefix}{name}-{target}.{ext}",
        },
        options: {
          mode: "fast",
          variants: 3,
          ttl: 600,
          watermark: { text: "ACME", displayPosition: "top-left" },
        },
        processingVersion: "7",
      },
    ];
    for (const input of inputs) {
      const job = parseOutpaintJob(input);
      const identity = identityOf(job);
      expect(jobIdentityJson(job)).toBe(canonicalJson(identity));
      expect(outpaintJobId(job)).toBe(
        `op-${createHash("sha256").update(canonicalJson(identity)).digest("hex")}`,
      );
    }
  });
});

describe("jobIdentityJson of any source", () => {
  it("is canonicalJson of the identity, whichever of etag, versionId and sequencer the source has", () => {
    const text = fc.string({ minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(
        fc.record(
          {
            key: text,
            etag: text,
            versionId: text,
            sequencer: text,
            route: fc.shuffledSubarray(["b", "a", "webhook:dam", "cdn-purge"]),
          },
          { requiredKeys: ["key", "route"] },
        ),
        ({ key, route, ...rest }) => {
          const job = parseOutpaintJob({
            ...minimal,
            source: { kind: "s3", bucket: "src", key, ...rest },
            route,
          });
          const identity = identityOf(job);
          expect(jobIdentityJson(job)).toBe(canonicalJson(identity));
        },
      ),
    );
  });
});

describe("canonicalJson", () => {
  it("sorts keys at every depth, keeps array order and leaves out undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: undefined, e: null } })).toBe(
      '{"a":{"d":[2,1],"e":null},"b":1}',
    );
  });
});

/** A job's identity as the id hashes it, built the slow way (canonicalJson) to check the fast one. */
function identityOf(job: ReturnType<typeof parseOutpaintJob>) {
  return {
    source: sourceIdentity(job.source),
    target: job.target,
    output: job.output,
    options: job.options,
    route: [...job.route].sort(),
    // Under its first name: ids from before the rename stay the same.
    pipelineVersion: job.processingVersion,
  };
}
