import { readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

/**
 * Renders a kustomization the way `kubectl kustomize` does, for the subset reframe's manifests use
 * (kustomize is a Go binary, not on npm): `resources` (files and other kustomizations), `images`,
 * `replicas`, `patches` (strategic merge, matched by kind and name), `secretGenerator` and
 * `configMapGenerator` with literals and `generatorOptions.disableNameSuffixHash: true`. Any other
 * field is refused, so the test never passes over something the real tool would apply.
 *
 * Strategic merge: maps merge key by key (null deletes a key); the lists Kubernetes merges by a key
 * (containers and env by name, ports by containerPort or port, volumes by name, volumeMounts by
 * mountPath) merge item by item; other lists are replaced, as they are in custom resources (KEDA's
 * triggers) where kustomize falls back to a JSON merge patch.
 */

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string } & Record<string, unknown>;
};

const KNOWN_FIELDS = new Set([
  "apiVersion",
  "kind",
  "resources",
  "images",
  "replicas",
  "patches",
  "secretGenerator",
  "configMapGenerator",
  "generatorOptions",
]);

const MERGE_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  env: "name",
  volumes: "name",
  volumeMounts: "mountPath",
};

export async function renderKustomization(directory: string): Promise<Manifest[]> {
  const file = join(directory, "kustomization.yaml");
  const kustomization = (await readYaml(file))[0] as Record<string, unknown>;
  const unknown = Object.keys(kustomization).filter((field) => !KNOWN_FIELDS.has(field));
  if (unknown.length > 0)
    throw new Error(`${file}: fields this renderer does not apply: ${unknown.join(", ")}`);
  let manifests: Manifest[] = [];
  for (const resource of (kustomization.resources as string[] | undefined) ?? []) {
    const path = resolve(directory, resource);
    manifests.push(
      ...((await stat(path)).isDirectory()
        ? await renderKustomization(path)
        : ((await readYaml(path)) as Manifest[])),
    );
  }
  const options = (kustomization.generatorOptions ?? {}) as { disableNameSuffixHash?: boolean };
  for (const kind of ["secretGenerator", "configMapGenerator"] as const) {
    const generators = (kustomization[kind] as { name: string; literals?: string[] }[] | undefined) ?? [];
    if (generators.length > 0 && options.disableNameSuffixHash !== true) {
      throw new Error(`${file}: ${kind} without generatorOptions.disableNameSuffixHash: true`);
    }
    for (const generator of generators) manifests.push(generated(kind, generator));
  }
  for (const patch of (kustomization.patches as { path: string }[] | undefined) ?? []) {
    for (const document of (await readYaml(resolve(directory, patch.path))) as Manifest[]) {
      const index = manifests.findIndex(
        (m) => m.kind === document.kind && m.metadata.name === document.metadata.name,
      );
      if (index < 0) throw new Error(`${patch.path}: no ${document.kind} ${document.metadata.name} to patch`);
      manifests[index] = merge(manifests[index], document, "") as Manifest;
    }
  }
  for (const { name, count } of (kustomization.replicas as { name: string; count: number }[] | undefined) ??
    []) {
    const target = manifests.find(
      (m) => m.metadata.name === name && "replicas" in ((m.spec as object) ?? {}),
    );
    if (!target) throw new Error(`${file}: replicas for ${name}, which has none`);
    (target.spec as { replicas: number }).replicas = count;
  }
  const images =
    (kustomization.images as { name: string; newName?: string; newTag?: string }[] | undefined) ?? [];
  manifests = manifests.map((manifest) => withImages(manifest, images));
  return manifests;
}

async function readYaml(path: string): Promise<unknown[]> {
  const documents = parseAllDocuments(await readFile(path, "utf8"));
  return documents.map((document) => {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0]!.message}`);
    return document.toJS();
  });
}

function generated(
  kind: "secretGenerator" | "configMapGenerator",
  { name, literals = [] }: { name: string; literals?: string[] },
): Manifest {
  const data = Object.fromEntries(
    literals.map((literal) => {
      const at = literal.indexOf("=");
      return [literal.slice(0, at), literal.slice(at + 1)];
    }),
  );
  return kind === "secretGenerator"
    ? { apiVersion: "v1", kind: "Secret", metadata: { name }, type: "Opaque", stringData: data }
    : { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data };
}

function merge(base: unknown, patch: unknown, field: string): unknown {
  if (Array.isArray(base) && Array.isArray(patch)) return mergeList(base, patch, field);
  if (!isMap(base) || !isMap(patch)) return patch;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = key in base ? merge(base[key], value, key) : value;
  }
  return merged;
}

function mergeList(base: unknown[], patch: unknown[], field: string): unknown[] {
  const key = field === "ports" ? portKey(patch) : MERGE_KEYS[field];
  if (!key) return patch;
  const merged = [...base];
  for (const item of patch) {
    const index = merged.findIndex(
      (existing) => isMap(existing) && isMap(item) && existing[key] === item[key],
    );
    if (index >= 0) merged[index] = merge(merged[index], item, "");
    else merged.push(item);
  }
  return merged;
}

/** A container's ports merge by containerPort, a Service's by port. */
function portKey(items: unknown[]): string {
  return items.some((item) => isMap(item) && "containerPort" in item) ? "containerPort" : "port";
}

function withImages(
  manifest: Manifest,
  images: { name: string; newName?: string; newTag?: string }[],
): Manifest {
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit);
    if (!isMap(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = visit(inner);
    if (typeof out.image === "string" && "name" in out) {
      const [name, tag] = splitImage(out.image as string);
      const rule = images.find((image) => image.name === name);
      if (rule)
        out.image = `${rule.newName ?? name}${rule.newTag ? `:${rule.newTag}` : tag ? `:${tag}` : ""}`;
    }
    return out;
  };
  return visit(manifest) as Manifest;
}

function splitImage(image: string): [string, string | undefined] {
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  return colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, undefined];
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The folder of the repository's Kubernetes manifests. */
export const K8S_DIR = resolve(dirname(new URL(import.meta.url).pathname), "../../infra/k8s");
