import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { callerRedisEnv, LOCAL_BUCKETS, type LocalStack, startLocalStack } from "@reframe/local-stack";
import { createEndpointStore } from "@reframe/outbound";
import {
  applyPipelines,
  createPipelineRunQueue,
  createPipelineStore,
  parsePipelinesFile,
} from "@reframe/pipelines";
import { createRedisClient, waitForRedisReady } from "@reframe/redis";
import { startWebhookReceiver, type WebhookReceiver } from "@reframe/testkit";
import { uploadSampleScenes } from "./sample-scenes.ts";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const EXAMPLE_PIPELINES = join(REPO_ROOT, "examples", "pipelines.yaml");

/** The outbound endpoint the demo declares, and the example pipelines route uploads' events to. */
const DEMO_ENDPOINT = "demo-hooks";

/**
 * `npm run demo -- --serve`: the whole stack stays up (Redis, embedded S3, emulator, webhook
 * receiver, worker, HTTP API with the S3 event intake), the sample library is uploaded, the example
 * pipelines are applied, and the embedded S3's bucket notifications go to a local SNS topic whose
 * subscription is the intake, as on AWS. A sample outbound endpoint (`demo-hooks`) logs every
 * delivery it verifies. The environment for the CLI, the API, S3 and SNS goes to `<out>/env` (tokens
 * are not printed) until Ctrl-C.
 */
export async function serve(outDir: string): Promise<number> {
  console.log("starting Redis, the embedded S3, the emulator, the webhook receiver, a worker and the API…");
  const redisEnv = callerRedisEnv(process.env);
  const stack = await startLocalStack({
    ...(redisEnv ? { redisEnv } : {}),
    api: true,
    sns: true,
    uploadTriggers: "sns",
  });
  let endpoint: WebhookReceiver | undefined;
  try {
    await prepare(stack, outDir);
    endpoint = await startSampleEndpoint(stack);
    const envFile = join(outDir, "env");
    await mkdir(outDir, { recursive: true });
    const caFile = join(outDir, "sns-ca.pem");
    await writeFile(caFile, stack.sns!.caPem);
    await writeFile(envFile, environmentFile(stack, caFile, endpoint.url), { mode: 0o600 });
    console.log(instructions(envFile, stack));
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    console.log("\nstopping…");
    return 0;
  } finally {
    await endpoint?.close();
    await stack.stop();
  }
}

/**
 * A receiver of outbound webhooks, as a downstream service would run one: it verifies each delivery
 * with the `standardwebhooks` package and logs it. Declared as the endpoint `demo-hooks` with a
 * secret generated here (once per Redis: a kept Redis keeps its endpoint and secret).
 */
async function startSampleEndpoint(stack: LocalStack): Promise<WebhookReceiver> {
  const connection = createRedisClient(stack.redisSettings, { role: "producer" });
  try {
    await waitForRedisReady(connection);
    const endpoints = createEndpointStore(connection, { prefix: stack.redisSettings.prefix });
    const existing = await endpoints.get(DEMO_ENDPOINT);
    const port = existing ? Number(new URL(existing.url).port) : undefined;
    const secrets = existing ? existing.secrets.map((entry) => entry.secret) : [];
    const receiver = await startWebhookReceiver({
      secrets,
      ...(port ? { port } : {}),
      onReceived: (request) => {
        const event = request.body as { type?: string; subject?: string };
        console.log(
          request.verified
            ? `[${DEMO_ENDPOINT}] verified delivery ${request.id}: ${event.type} ${event.subject ?? ""}`
            : `[${DEMO_ENDPOINT}] REFUSED a delivery (${request.verifyError})`,
        );
      },
    });
    if (!existing) {
      const { generatedSecret } = await endpoints.add({ name: DEMO_ENDPOINT, url: receiver.url });
      receiver.setSecrets([generatedSecret!]);
    }
    console.log(`sample endpoint ${DEMO_ENDPOINT} at ${receiver.url} logs each delivery it verifies`);
    return receiver;
  } finally {
    connection.disconnect();
  }
}

async function prepare(stack: LocalStack, outDir: string): Promise<void> {
  const s3 = stack.s3Client();
  const connection = createRedisClient(stack.redisSettings, { role: "producer" });
  const { prefix } = stack.redisSettings;
  const runQueue = createPipelineRunQueue({ connection, prefix });
  try {
    await waitForRedisReady(connection);
    const samples = await uploadSampleScenes(s3);
    await mkdir(join(outDir, "samples"), { recursive: true });
    for (const sample of samples)
      await writeFile(join(outDir, "samples", `${sample.name}.jpg`), sample.bytes);
    console.log(
      `uploaded ${samples.length} sample images to s3://${LOCAL_BUCKETS.sources}/samples/ (copies in ${outDir}/samples/)`,
    );
    const file = parsePipelinesFile(await readFile(EXAMPLE_PIPELINES, "utf8"), "examples/pipelines.yaml");
    const changes = await applyPipelines(file, {
      store: createPipelineStore(connection, { prefix }),
      runQueue,
    });
    console.log(
      `applied examples/pipelines.yaml: ${changes.map((c) => `${c.pipeline} (${c.change})`).join(", ")}`,
    );
  } finally {
    await runQueue.close();
    connection.disconnect();
    s3.destroy();
  }
}

/**
 * `source out/demo/env` in a new terminal: the stack's addresses and tokens, and the project's Node 24
 * and pnpm first on PATH (under .tools/ when the machine's are older), so every command of the README
 * runs as written there. One variable is one line of `variables`.
 */
function environmentFile(stack: LocalStack, snsCaFile: string, endpointUrl: string): string {
  const variables: Record<string, string> = {
    ...Object.fromEntries(Object.entries(stack.redisEnv).filter(([, value]) => value !== "")),
    QUEUE_PREFIX: stack.redisSettings.prefix,
    S3_ENDPOINT: stack.s3.endpoint,
    S3_REGION: stack.s3.region,
    S3_FORCE_PATH_STYLE: "true",
    S3_ACCESS_KEY_ID: stack.s3.credentials.accessKeyId,
    S3_SECRET_ACCESS_KEY: stack.s3.credentials.secretAccessKey,
    OUTPUT_BUCKET: LOCAL_BUCKETS.outputs,
    API_URL: stack.api!.url,
    API_TOKEN: stack.api!.token,
    INTAKE_TOKEN: stack.api!.intakeToken,
    SNS_PUBLISH_URL: stack.sns!.publishUrl,
    SNS_TOPIC_ARN: stack.sns!.topicArn,
    SNS_CA_FILE: snsCaFile,
    DEMO_ENDPOINT_URL: endpointUrl,
    // The worker's, the webhook receiver's and the API's /metrics; the dashboard (log in with API_TOKEN).
    METRICS_URLS: [...stack.metricsUrls.values()].join(" "),
    DASHBOARD_URL: `${stack.api!.url}/dashboard`,
  };
  const tools = [dirname(process.execPath), join(REPO_ROOT, ".tools", "bin")].filter(
    (dir) => dir.startsWith(join(REPO_ROOT, ".tools")) && existsSync(dir),
  );
  return [
    ...Object.entries(variables).map(([name, value]) => `export ${name}='${value}'`),
    ...(tools.length > 0 ? [`export PATH='${tools.join(":")}':"$PATH"`] : []),
    "",
  ].join("\n");
}

function instructions(envFile: string, stack: LocalStack): string {
  return `
reframe is running on embedded defaults.

  dashboard  ${stack.api!.url}/dashboard   (log in with API_TOKEN from ${envFile})
  metrics    ${[...stack.metricsUrls.values()].join("\n             ")}

In another terminal, in this checkout:

  source ${envFile}
  ./reframe pipelines list
  ./reframe pipelines run nightly-samples
  curl -s "$API_URL/v1/jobs" -H "authorization: Bearer $API_TOKEN" -H 'content-type: application/json' \\
    -d '{"source":{"kind":"s3","bucket":"reframe-sources","key":"samples/lakeside.jpg"},"target":{"kind":"ratio","ratio":"3:1"},"output":{"bucket":"reframe-outputs"}}'
  # an upload under incoming/ reaches the intake through the local SNS topic and triggers the
  # "uploads" pipeline; its completion events are delivered to the sample endpoint (logged here):
  curl -s --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY_ID:$S3_SECRET_ACCESS_KEY" \\
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T out/demo/samples/desert.jpg "$S3_ENDPOINT/reframe-sources/incoming/desert.jpg"
  ./reframe deliveries list --endpoint demo-hooks

Ctrl-C stops everything.`;
}
