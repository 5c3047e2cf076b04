import { outpaintJobSchema } from "@reframe/jobs";
import { z } from "zod";

const error = {
  type: "object",
  properties: { error: { type: "string" }, message: { type: "string" } },
  required: ["error"],
} as const;

const validationError = {
  type: "object",
  properties: {
    error: { const: "validation" },
    issues: {
      type: "array",
      items: {
        type: "object",
        properties: { path: { type: "string" }, rule: { type: "string" } },
        required: ["path", "rule"],
      },
    },
  },
} as const;

/** The API's OpenAPI 3.1 document; the job's schema comes from the zod schema the API validates with. */
export function openApiDocument() {
  const job = z.toJSONSchema(outpaintJobSchema, { io: "input", unrepresentable: "any" });
  const json = (schema: unknown) => ({ content: { "application/json": { schema } } });
  return {
    openapi: "3.1.0",
    info: {
      title: "reframe",
      version: "1",
      description:
        "Outpaint jobs on a queue: enqueue, follow a job, follow a batch; S3 event notifications start the applied pipelines' upload triggers.",
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "API_TOKEN" },
        intakeBearer: { type: "http", scheme: "bearer", description: "INTAKE_TOKEN (S3 notifiers)" },
        intakeBasic: {
          type: "http",
          scheme: "basic",
          description:
            "INTAKE_TOKEN as the password, any user name (SNS subscriptions: https://reframe:<token>@host/…)",
        },
      },
      schemas: { OutpaintJob: job, Error: error, ValidationError: validationError },
    },
    security: [{ bearer: [] }],
    paths: {
      "/v1/jobs": {
        post: {
          summary: "Enqueue one job, or many as {jobs: [...]}; the same work twice is added once",
          requestBody: json({
            oneOf: [
              { $ref: "#/components/schemas/OutpaintJob" },
              {
                type: "object",
                properties: { jobs: { type: "array", items: { $ref: "#/components/schemas/OutpaintJob" } } },
                required: ["jobs"],
              },
            ],
          }),
          responses: {
            "202": {
              description: "accepted",
              ...json({
                type: "object",
                properties: {
                  added: { type: "integer" },
                  existing: { type: "integer" },
                  jobIds: { type: "array", items: { type: "string" } },
                },
              }),
            },
            "400": {
              description: "a job is invalid: each issue names the field and the rule",
              ...json({ $ref: "#/components/schemas/ValidationError" }),
            },
            "401": {
              description: "no or wrong bearer token",
              ...json({ $ref: "#/components/schemas/Error" }),
            },
          },
        },
      },
      "/v1/jobs/{jobId}": {
        get: {
          summary: "A job's state, step, outputs or failure reason",
          parameters: [{ name: "jobId", in: "path", required: true, schema: { type: "string" } }],
          responses: {
            "200": { description: "the job" },
            "404": { description: "no such job", ...json({ $ref: "#/components/schemas/Error" }) },
          },
        },
      },
      "/v1/batches/{batchId}": {
        get: {
          summary:
            "A batch's jobs: awaited, in flight, completed, failed by reason, skipped (already done elsewhere), and what they cost",
          parameters: [{ name: "batchId", in: "path", required: true, schema: { type: "string" } }],
          responses: {
            "200": { description: "the batch" },
            "404": { description: "no such batch", ...json({ $ref: "#/components/schemas/Error" }) },
          },
        },
      },
      "/v1/events/s3": {
        post: {
          summary:
            "S3 object-created notifications (AWS S3 records, SNS HTTP/S envelopes, verified, or raw; MinIO webhook, EventBridge Object Created) → the jobs of every pipeline whose trigger matches, within its upload ceilings; outputs never trigger, repeated events add nothing; s3:TestEvent and other kinds of events are ignored",
          security: [{ intakeBearer: [] }, { intakeBasic: [] }],
          requestBody: json({ type: "object" }),
          responses: {
            "202": {
              description:
                "objects by disposition (matched, outputs, unmatched), messages and records ignored, jobs added, already there or over their pipeline's ceiling",
              ...json({
                type: "object",
                properties: {
                  objects: { type: "integer" },
                  matched: { type: "integer" },
                  outputs: { type: "integer" },
                  unmatched: { type: "integer" },
                  ignored: { type: "integer" },
                  added: { type: "integer" },
                  duplicates: { type: "integer" },
                  overBudget: { type: "integer" },
                  jobIds: { type: "array", items: { type: "string" } },
                },
              }),
            },
            "200": { description: "an SNS subscription confirmed (or already), or an unsubscribe logged" },
            "403": {
              description:
                "an SNS message refused: signature, certificate URL, topic (SNS_TOPIC_ARNS) or age; nothing added",
              ...json({ $ref: "#/components/schemas/ValidationError" }),
            },
            "400": {
              description: "not an S3 event in a known shape",
              ...json({ $ref: "#/components/schemas/ValidationError" }),
            },
            "503": {
              description: "S3 or Redis could not be read now; nothing was added: send the event again",
            },
            "401": {
              description: "no or wrong intake token",
              ...json({ $ref: "#/components/schemas/Error" }),
            },
          },
        },
      },
    },
  };
}
