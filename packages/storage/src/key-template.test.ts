import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_KEY_TEMPLATE,
  KEY_TEMPLATE_FIELDS,
  KeyTemplateError,
  type KeyTemplateValues,
  keyTemplateProblems,
  outputAreaOf,
  renderKeyTemplate,
  splitKey,
} from "./key-template.ts";

const values = (overrides: Partial<KeyTemplateValues> = {}): KeyTemplateValues => ({
  prefix: "out/",
  target: "16x9",
  dir: "a/b/",
  name: "c",
  ext: "jpg",
  variant: "1",
  ...overrides,
});

describe("key templates", () => {
  it("render every field and drop empty, . and .. segments", () => {
    expect(renderKeyTemplate("{prefix}/{target}/{dir}{name}.{ext}", values({ dir: "a/../b/" }))).toBe(
      "out/16x9/a/b/c.jpg",
    );
    expect(renderKeyTemplate(DEFAULT_KEY_TEMPLATE, values({ prefix: "", dir: "" }))).toBe("16x9/c.jpg");
  });

  it("name an unknown placeholder", () => {
    expect(() => renderKeyTemplate("{nope}/{name}", values())).toThrowError(KeyTemplateError);
    expect(() => renderKeyTemplate("{nope}/{name}", values())).toThrowError(/\{nope\}/);
  });

  it("say every problem of a template as a rule", () => {
    expect(keyTemplateProblems(DEFAULT_KEY_TEMPLATE)).toEqual([]);
    expect(keyTemplateProblems("{prefix}{size}/{ext}")).toEqual([
      "unknown field {size}; known fields: {prefix}, {target}, {dir}, {name}, {ext}, {variant}",
      "must contain {name}",
    ]);
  });

  it("split keys into dir, name and extension", () => {
    expect(splitKey("a/b/c.tar.gz")).toEqual({ dir: "a/b/", name: "c.tar", ext: "gz" });
    expect(splitKey("plain")).toEqual({ dir: "", name: "plain", ext: "" });
  });
});

describe("outputAreaOf", () => {
  const area = (keyTemplate: string, prefix?: string, target = "16x9") =>
    outputAreaOf({ bucket: "media", keyTemplate, ...(prefix === undefined ? {} : { prefix }) }, target)
      .prefix;

  it("is the template's fixed start once {prefix} and {target} are filled in", () => {
    expect(area(DEFAULT_KEY_TEMPLATE, "out/")).toBe("out/16x9/");
    expect(area("{prefix}{target}-{name}.{ext}", "out/")).toBe("out/16x9-");
    expect(area("reformats//{target}/{dir}{name}", undefined, "x-header")).toBe("reformats/x-header/");
    expect(area("{prefix}{name}", "")).toBe("");
  });

  it("is the whole bucket when the template starts with a per-source field (the runaway loop met on a real library)", () => {
    expect(area("{dir}{name}-{target}.{ext}", "out/")).toBe("");
    expect(area("{name}/{prefix}{target}", "out/")).toBe("");
  });

  it("stops before a '.' or '..' that an empty {dir} would turn into a dropped segment", () => {
    expect(area("{prefix}./{dir}{name}", "out/")).toBe("out/");
    expect(area("{prefix}.{dir}{name}", "out/")).toBe("out/");
    expect(area("{prefix}..{dir}{name}", "out/")).toBe("out/");
    expect(area("{prefix}...{dir}{name}", "out/")).toBe("out/...");
  });

  const literal = fc.stringMatching(/^[a-z./-]{0,6}$/);
  const field = fc.constantFrom(...KEY_TEMPLATE_FIELDS).map((name) => `{${name}}`);
  const template = fc
    .array(fc.oneof(literal, field), { minLength: 1, maxLength: 7 })
    .map((parts) => `${parts.join("")}{name}`);
  const segment = fc.stringMatching(/^[a-z0-9.-]{0,5}$/);
  const renderValues = fc.record({
    prefix: fc.array(segment, { maxLength: 3 }).map((parts) => parts.map((p) => `${p}/`).join("")),
    target: fc.constantFrom("16x9", "1x1", "x-header", "m0-10-0-10"),
    dir: fc.array(segment, { maxLength: 3 }).map((parts) => parts.map((p) => `${p}/`).join("")),
    name: segment,
    ext: fc.constantFrom("jpg", "png", "webp"),
    variant: fc.constantFrom("1", "2"),
  });

  it("contains every key the template renders, for any template and values (property)", () => {
    fc.assert(
      fc.property(template, renderValues, (keyTemplate, fields) => {
        let key: string;
        try {
          key = renderKeyTemplate(keyTemplate, fields);
        } catch (error) {
          if (error instanceof KeyTemplateError) return; // an empty key: no output at all
          throw error;
        }
        const { prefix } = outputAreaOf({ bucket: "b", keyTemplate, prefix: fields.prefix }, fields.target);
        expect(key.startsWith(prefix)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
