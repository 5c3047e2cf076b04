import { readFile } from "node:fs/promises";
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { ConfigError, parseEnv } from "@reframe/config";
import { emulatorConfigSchema } from "@reframe/emulator";
import { apiConfigSchema } from "@reframe/producer";
import { webhooksConfigSchema } from "@reframe/webhooks";
import { workerConfigSchema } from "@reframe/worker";
import { Deployment } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Secret, Service } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { K8S_DIR, type Manifest, renderKustomization } from "./kustomize.ts";

/**
 * `infra/k8s` rendered offline (kustomize's subset in kustomize.ts), every object validated against
 * the Kubernetes and KEDA schemas (kubernetes-models, generated from the API's OpenAPI documents),
 * and every variable a Deployment or the Compose file gives a process checked against that process's
 * own config schema: accepted, and valid as a whole (secrets stand in as placeholders).
 */

const MODELS: Record<string, { validate(): void } & (new (data: never) => { validate(): void })> = {
  "apps/v1/Deployment": Deployment as never,
  "batch/v1/Job": Job as never,
  "v1/ConfigMap": ConfigMap as never,
  "v1/Secret": Secret as never,
  "v1/Service": Service as never,
  "networking.k8s.io/v1/Ingress": Ingress as never,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget as never,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject as never,
  "keda.sh/v1alpha1/TriggerAuthentication": TriggerAuthentication as never,
};

type Schema = Parameters<typeof parseEnv>[0] & { shape: Record<string, unknown> };
const PROCESSES: { entry: string; name: string; schema: Schema }[] = [
  { entry: "apps/worker/src/main.ts", name: "worker", schema: workerConfigSchema as never },
  { entry: "apps/webhooks/src/main.ts", name: "webhooks", schema: webhooksConfigSchema as never },
  { entry: "apps/producer/src/api-main.ts", name: "api", schema: apiConfigSchema as never },
  { entry: "apps/emulator/src/main.ts", name: "emulator", schema: emulatorConfigSchema as never },
];

const OVERLAYS = ["production", "production-cluster", "local"] as const;
const PLACEHOLDER = "placeholder-secret-0123456789abcdef";

interface Container {
  name: string;
  image: string;
  command?: string[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
  }[];
  ports?: { name?: string; containerPort: number }[];
}

const deployments = (manifests: Manifest[]) => manifests.filter((m) => m.kind === "Deployment");
const podSpec = (deployment: Manifest) =>
  (
    deployment.spec as {
      template: { spec: { containers: Container[]; terminationGracePeriodSeconds?: number } };
    }
  ).template.spec;
const find = (manifests: Manifest[], kind: string, name: string) =>
  manifests.find((m) => m.kind === kind && m.metadata.name === name);
const processOf = (command: readonly string[] = []) =>
  PROCESSES.find((process) => command.some((arg) => arg === process.entry));

function validate(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!Model)
    throw new Error(`${manifest.kind} ${manifest.metadata.name}: no schema known for ${manifest.apiVersion}`);
  new Model(manifest as never).validate();
}

/** The environment a container gets: ConfigMaps and Secrets of the overlay, placeholders for the rest. */
function environmentOf(container: Container, manifests: Manifest[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name ?? source.secretRef?.name;
    const found = find(manifests, source.configMapRef ? "ConfigMap" : "Secret", name!);
    expect(found, `${container.name}: envFrom ${name} exists in the overlay`).toBeDefined();
    Object.assign(env, (found as { data?: Record<string, string> }).data ?? {});
  }
  for (const variable of container.env ?? []) {
    const secretRef = variable.valueFrom?.secretKeyRef;
    if (!secretRef) {
      env[variable.name] = variable.value ?? "";
      continue;
    }
    const secret = find(manifests, "Secret", secretRef.name) as
      | { stringData?: Record<string, string> }
      | undefined;
    const value = secret ? secret.stringData?.[secretRef.key] : secretRef.optional ? undefined : PLACEHOLDER;
    if (secret && !secretRef.optional)
      expect(value, `${container.name}: ${secretRef.name}.${secretRef.key}`).toBeDefined();
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

function expectAccepted(where: string, process: (typeof PROCESSES)[number], env: Record<string, string>) {
  const accepted = new Set(Object.keys(process.schema.shape));
  const unknown = Object.keys(env).filter((name) => !accepted.has(name));
  expect(unknown, `${where}: variables the ${process.name} does not take`).toEqual([]);
  try {
    parseEnv(process.schema, env);
  } catch (error) {
    if (error instanceof ConfigError)
      throw new Error(`${where}: the ${process.name} refuses its variables: ${error.message}`);
    throw error;
  }
}

describe("the Kubernetes manifests", () => {
  it.each(["base", ...OVERLAYS.map((overlay) => `overlays/${overlay}`)])(
    "%s renders, and every object is valid against the Kubernetes and KEDA schemas",
    async (path) => {
      const manifests = await renderKustomization(`${K8S_DIR}/${path}`);
      expect(manifests.length).toBeGreaterThan(5);
      for (const manifest of manifests) validate(manifest);
    },
  );

  it.each(OVERLAYS)(
    "%s: each process gets only variables it takes, valid together; grace periods cover its stop bound",
    async (overlay) => {
      const manifests = await renderKustomization(`${K8S_DIR}/overlays/${overlay}`);
      const seen = new Set<string>();
      for (const deployment of deployments(manifests)) {
        const spec = podSpec(deployment);
        for (const container of spec.containers) {
          const process = processOf(container.command);
          if (!process) continue;
          seen.add(process.name);
          const env = environmentOf(container, manifests);
          expectAccepted(`${overlay} ${deployment.metadata.name}`, process, env);
          const stopBoundS =
            Number(env.SHUTDOWN_TIMEOUT_MS ?? (process.name === "worker" ? 20_000 : 10_000)) / 1000;
          if (process.name !== "emulator")
            expect(spec.terminationGracePeriodSeconds ?? 30, deployment.metadata.name).toBeGreaterThan(
              stopBoundS,
            );
          expect(container.image, "every reframe process runs the overlay's image").toMatch(
            overlay === "local" ? /^reframe:local$/ : /^registry\.example\.com\/reframe:1\.0\.0$/,
          );
        }
      }
      expect([...seen].sort()).toEqual(
        overlay === "local" ? ["api", "emulator", "webhooks", "worker"] : ["api", "webhooks", "worker"],
      );
    },
  );

  it.each(OVERLAYS)("%s: Services, the Ingress, budgets and KEDA point at what exists", async (overlay) => {
    const manifests = await renderKustomization(`${K8S_DIR}/overlays/${overlay}`);
    const labelsOf = (d: Manifest) =>
      (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    const selects = (selector: Record<string, string>) =>
      deployments(manifests).filter((d) => Object.entries(selector).every(([k, v]) => labelsOf(d)[k] === v));
    for (const service of manifests.filter((m) => m.kind === "Service")) {
      const { selector, ports } = service.spec as {
        selector: Record<string, string>;
        ports: { targetPort: string }[];
      };
      const [target] = selects(selector);
      expect(target, `Service ${service.metadata.name} selects a Deployment`).toBeDefined();
      const named = podSpec(target!)
        .containers.flatMap((c) => c.ports ?? [])
        .map((p) => p.name);
      for (const port of ports) expect(named, `Service ${service.metadata.name}`).toContain(port.targetPort);
    }
    for (const budget of manifests.filter((m) => m.kind === "PodDisruptionBudget")) {
      const { selector } = budget.spec as { selector: { matchLabels: Record<string, string> } };
      expect(selects(selector.matchLabels), `budget ${budget.metadata.name}`).toHaveLength(1);
    }
    const ingress = find(manifests, "Ingress", "reframe")!;
    const backends = (
      ingress.spec as {
        rules: { http: { paths: { path: string; backend: { service: { name: string } } }[] } }[];
      }
    ).rules.flatMap((rule) => rule.http.paths);
    expect(backends.find((p) => p.path === "/runware/")?.backend.service.name).toBe("reframe-webhooks");
    expect(backends.find((p) => p.path === "/v1/")?.backend.service.name).toBe("reframe-api");
    for (const backend of backends)
      expect(find(manifests, "Service", backend.backend.service.name)).toBeDefined();

    const scaled = find(manifests, "ScaledObject", "reframe-worker")!;
    const spec = scaled.spec as {
      scaleTargetRef: { name: string };
      minReplicaCount: number;
      triggers: {
        type: string;
        name: string;
        metadata: Record<string, string>;
        authenticationRef?: { name: string };
      }[];
    };
    const worker = find(manifests, "Deployment", spec.scaleTargetRef.name)!;
    const workerEnv = environmentOf(podSpec(worker).containers[0]!, manifests);
    expect(spec.minReplicaCount, "a worker always runs (reconciler, schedules)").toBeGreaterThanOrEqual(1);
    const waiting = spec.triggers.find((trigger) => trigger.name === "waiting")!;
    const delayed = spec.triggers.find((trigger) => trigger.name === "delayed")!;
    const redisScaler = {
      production: "redis-sentinel",
      "production-cluster": "redis-cluster",
      local: "redis",
    }[overlay];
    expect(waiting.type).toBe(redisScaler);
    expect(waiting.metadata.listName).toBe(`${workerEnv.QUEUE_PREFIX}:outpaint:wait`);
    for (const [field, value] of Object.entries(waiting.metadata)) {
      if (field.endsWith("FromEnv"))
        expect(workerEnv[value], `${field}: ${value} is set on the worker`).toBeTruthy();
    }
    expect(delayed).toMatchObject({ type: "metrics-api", metadata: { valueLocation: "delayed" } });
    const api = new URL(delayed.metadata.url!);
    const apiService = find(manifests, "Service", api.hostname)!;
    expect((apiService.spec as { ports: { port: number }[] }).ports.map((p) => p.port)).toContain(
      Number(api.port),
    );
    expect(api.pathname).toBe("/v1/queue/counts");
    for (const trigger of spec.triggers.filter((t) => t.authenticationRef)) {
      expect(
        find(manifests, "TriggerAuthentication", trigger.authenticationRef!.name),
        trigger.name,
      ).toBeDefined();
    }
  });
});

describe("the Compose file", () => {
  it("runs every process, each with only variables it takes, valid together", async () => {
    const compose = parse(await readFile(new URL("../../docker-compose.yml", import.meta.url), "utf8"), {
      merge: true,
    }) as { services: Record<string, { command?: string[]; environment?: Record<string, string> }> };
    const seen = new Set<string>();
    for (const [name, service] of Object.entries(compose.services)) {
      const process = processOf(service.command);
      if (!process) continue;
      seen.add(process.name);
      const env = Object.fromEntries(
        Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]),
      );
      expectAccepted(`compose ${name}`, process, env);
    }
    expect([...seen].sort()).toEqual(["api", "emulator", "webhooks", "worker"]);
  });
});
