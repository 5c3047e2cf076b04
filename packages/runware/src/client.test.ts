import { createServer } from "node:http";
import { ServiceUnreachableError } from "@reframe/reachability";
import { freePort } from "@reframe/testkit";
import { describe, expect, it } from "vitest";
import { checkProviderReachable, createRunwareClient } from "./client.ts";
import { ProviderError } from "./provider-errors.ts";

describe("a provider that does not answer", () => {
  it("is one line naming the endpoint and the problem, for a check and for a request", async () => {
    const baseUrl = `http://127.0.0.1:${await freePort()}/v1`;
    const expected = `cannot reach the provider at ${baseUrl} (connection refused)`;
    const check = await checkProviderReachable(baseUrl).catch((error: unknown) => error);
    expect(check).toBeInstanceOf(ServiceUnreachableError);
    expect((check as Error).message).toBe(expected);
    const client = createRunwareClient({ baseUrl, apiKey: "key-that-is-never-shown" });
    try {
      const error = await client
        .getResponses(["7f0c2d9e-5b1a-4c3d-9e8f-0a1b2c3d4e5f"])
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ code: "networkError", disposition: "retryable", message: expected });
    } finally {
      await client.close();
    }
  });

  it("any HTTP answer counts as reachable (a GET is not what the provider serves)", async () => {
    const server = createServer((_request, response) => response.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      await expect(checkProviderReachable(`http://127.0.0.1:${port}/v1`)).resolves.toBeUndefined();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
