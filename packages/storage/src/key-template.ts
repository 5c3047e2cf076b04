/** Output keys from templates like `{prefix}{target}/{dir}{name}.{ext}`. */
export const KEY_TEMPLATE_FIELDS = ["prefix", "target", "dir", "name", "ext", "variant", "preset"] as const;

export class KeyTemplateError extends Error {
  readonly code = "invalid-key-template";
  constructor(message: string) {
    super(message);
    this.name = "KeyTemplateError";
  }
}

export function renderKeyTemplate(template: string, values: Partial<Record<string, string>>): string {
  const rendered = template.replace(/\{([^{}]*)\}/g, (_, field: string) => {
    const value = values[field];
    if (value === undefined)
      throw new KeyTemplateError(`unknown placeholder {${field}} in key template ${template}`);
    return value;
  });
  const key = rendered
    .split("/")
    .filter((segment) => segment !== "" && segment !== "." && segment !== "..")
    .join("/");
  if (key === "") throw new KeyTemplateError(`key template ${template} renders an empty key`);
  return key;
}

/** `a/b/c.jpg` → { dir: "a/b/", name: "c", ext: "jpg" } (dir keeps its trailing slash, or is empty). */
export function splitKey(key: string): { dir: string; name: string; ext: string } {
  const slash = key.lastIndexOf("/");
  const dir = slash >= 0 ? key.slice(0, slash + 1) : "";
  const file = key.slice(slash + 1);
  const dot = file.lastIndexOf(".");
  return dot > 0 ? { dir, name: file.slice(0, dot), ext: file.slice(dot + 1) } : { dir, name: file, ext: "" };
}
