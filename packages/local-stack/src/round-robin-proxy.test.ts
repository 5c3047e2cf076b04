import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type RoundRobinProxy, startRoundRobinProxy } from "./round-robin-proxy.ts";

interface Upstream {
  url: string;
  bodies: string[];
  close(): Promise<void>;
}

async function startUpstream(name: string): Promise<Upstream> {
  const bodies: string[] = [];
  const server: Server = createServer(async (request, response) => {
    let body = "";
    for await (const chunk of request) body += String(chunk);
    bodies.push(body);
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ upstream: name, path: request.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function post(proxy: RoundRobinProxy, body: string) {
  const response = await fetch(`${proxy.url}/runware/t?token=x`, { method: "POST", body });
  return { status: response.status, json: (await response.json()) as { upstream?: string; path?: string } };
}

describe("the round-robin proxy in front of webhook receivers", () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const closable of open.splice(0).reverse()) await closable.close();
  });

  it("alternates between upstreams, passing path, query and body through", async () => {
    const a = await startUpstream("a");
    const b = await startUpstream("b");
    const proxy = await startRoundRobinProxy([a.url, b.url]);
    open.push(a, b, proxy);
    const answers = [];
    for (let i = 0; i < 4; i += 1) answers.push(await post(proxy, `body-${i}`));
    expect(answers.map((answer) => answer.json.upstream)).toEqual(["a", "b", "a", "b"]);
    expect(answers[0]!.json.path).toBe("/runware/t?token=x");
    expect([...a.bodies, ...b.bodies].sort()).toEqual(["body-0", "body-1", "body-2", "body-3"]);
    expect(proxy.served()).toEqual([2, 2]);
  });

  it("skips an upstream that refuses connections, and answers 502 when every one does", async () => {
    const a = await startUpstream("a");
    const b = await startUpstream("b");
    const proxy = await startRoundRobinProxy([a.url, b.url]);
    open.push(b, proxy);
    await a.close();
    const answers = [await post(proxy, "1"), await post(proxy, "2")];
    expect(answers.map((answer) => answer.json.upstream)).toEqual(["b", "b"]);
    await b.close();
    expect((await post(proxy, "3")).status).toBe(502);
  });
});
