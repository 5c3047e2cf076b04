import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isPublicAddress } from "./address-policy.ts";
import { createGuardedFetch, type EgressPolicy, type GuardedFetch } from "./guarded-fetch.ts";
import { EgressRefusedError, type Resolve } from "./pinned-lookup.ts";

describe("isPublicAddress", () => {
  it.each([
    ["8.8.8.8", true],
    ["1.1.1.1", true],
    ["2606:4700:4700::1111", true],
    ["127.0.0.1", false],
    ["10.1.2.3", false],
    ["172.16.0.1", false],
    ["172.32.0.1", true],
    ["192.168.1.1", false],
    ["169.254.169.254", false],
    ["100.64.0.1", false],
    ["0.0.0.0", false],
    ["224.0.0.1", false],
    ["::1", false],
    ["::", false],
    ["fd00::1", false],
    ["fe80::1", false],
    ["::ffff:127.0.0.1", false],
    ["::ffff:8.8.8.8", true],
    ["::ffff:7f00:1", false],
    ["::ffff:a9fe:a9fe", false],
    ["::7f00:1", false],
    ["::127.0.0.1", false],
    ["64:ff9b::a9fe:a9fe", false],
    ["64:ff9b::808:808", true],
    ["2002:7f00:1::", false],
    ["2002:808:808::1", true],
    ["2001:db8::1", false],
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", false],
    ["fec0::1", false],
    ["fe80::1%eth0", false],
    ["not-an-ip", false],
  ])("%s → %s", (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

/**
 * A real HTTP server on 127.0.0.1 stands for every host; an injected resolver decides which names
 * point at it, so "after DNS" and "after redirects" are exercised over real connections.
 */
describe("createGuardedFetch", () => {
  let server: Server;
  let port: number;
  /** Every request the server saw, as "host path". */
  const seen: string[] = [];
  const fetchers: GuardedFetch[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.push(`${request.headers.host} ${request.url}`);
      const redirect = /^\/redirect\?to=(.+)$/.exec(request.url ?? "");
      if (redirect) response.writeHead(302, { location: decodeURIComponent(redirect[1]!) }).end();
      else response.writeHead(200, { "content-type": "image/png" }).end("png");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    seen.length = 0;
    for (const fetcher of fetchers.splice(0)) await fetcher.close();
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** images.example and internal.example are this server (127.0.0.1); unknown names do not resolve. */
  const names: Record<string, string> = { "images.example": "127.0.0.1", "internal.example": "127.0.0.1" };
  const fakeDns: Resolve = async (hostname) => {
    const address = names[hostname];
    if (!address) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return [{ address, family: 4 }];
  };
  const guarded = (policy: EgressPolicy = {}) => {
    const fetcher = createGuardedFetch({ resolve: fakeDns, ...policy });
    fetchers.push(fetcher);
    return fetcher;
  };
  const redirectTo = (host: string, target: string) =>
    `http://${host}:${port}/redirect?to=${encodeURIComponent(target)}`;

  it("refuses loopback, link-local and private literals and other schemes, reaching nothing", async () => {
    const fetcher = guarded();
    for (const url of [
      `http://127.0.0.1:${port}/image`,
      `http://[::1]:${port}/image`,
      `http://[::ffff:127.0.0.1]:${port}/image`,
      `http://[::ffff:7f00:1]:${port}/image`,
      `http://0x7f.1:${port}/image`,
      `http://2130706433:${port}/image`,
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.5/a.jpg",
      "http://192.168.1.1/a.jpg",
      "file:///etc/passwd",
      "ftp://example.com/a",
    ]) {
      await expect(fetcher.fetch(url), url).rejects.toBeInstanceOf(EgressRefusedError);
    }
    expect(seen).toEqual([]);
  });

  it("refuses a name that resolves to a loopback address (checked after DNS), reaching nothing", async () => {
    await expect(guarded().fetch(`http://images.example:${port}/a.jpg`)).rejects.toThrow(
      /images\.example resolves to 127\.0\.0\.1, which is not a public address/,
    );
    expect(seen).toEqual([]);
  });

  it("refuses a name when any of its addresses is private, even if another is public", async () => {
    const mixed: Resolve = async () => [
      { address: "93.184.216.34", family: 4 },
      { address: "127.0.0.1", family: 4 },
    ];
    await expect(guarded({ resolve: mixed }).fetch(`http://mixed.example:${port}/a`)).rejects.toThrow(
      /mixed\.example resolves to 127\.0\.0\.1/,
    );
    expect(seen).toEqual([]);
  });

  it("refuses localhost through the system resolver (the hosts file)", async () => {
    const fetcher = createGuardedFetch();
    fetchers.push(fetcher);
    await expect(fetcher.fetch(`http://localhost:${port}/a.jpg`)).rejects.toThrow(
      /localhost resolves to .*not a public address/,
    );
    expect(seen).toEqual([]);
  });

  it("fetches an allow-listed name on a private address, and its redirects that stay allowed", async () => {
    const fetcher = guarded({ allowHosts: ["images.example"] });
    const direct = await fetcher.fetch(`http://images.example:${port}/a.png`);
    expect(await direct.text()).toBe("png");
    const redirected = await fetcher.fetch(redirectTo("images.example", "/b.png"));
    expect(await redirected.text()).toBe("png");
    expect(seen).toEqual([
      `images.example:${port} /a.png`,
      `images.example:${port} /redirect?to=%2Fb.png`,
      `images.example:${port} /b.png`,
    ]);
  });

  it.each([
    ["a loopback literal", (p: number) => `http://127.0.0.1:${p}/secret`, /127\.0\.0\.1 is not a public/],
    ["a name that resolves to loopback", (p: number) => `http://internal.example:${p}/secret`, /resolves to/],
    ["the metadata service", () => "http://169.254.169.254/latest/meta-data/", /169\.254\.169\.254/],
    ["another scheme", () => "file:///etc/passwd", /only http and https/],
  ])(
    "refuses a redirect from an allow-listed host to %s, reaching nothing after it",
    async (_name, target, error) => {
      const fetcher = guarded({ allowHosts: ["images.example"] });
      const from = redirectTo("images.example", target(port));
      await expect(fetcher.fetch(from)).rejects.toThrow(error);
      expect(seen).toEqual([`images.example:${port} ${new URL(from).pathname}${new URL(from).search}`]);
    },
  );

  it("stops after the most redirects allowed", async () => {
    const fetcher = guarded({ allowHosts: ["images.example"], maxRedirects: 2 });
    const loop = redirectTo(
      "images.example",
      redirectTo("images.example", redirectTo("images.example", "/x")),
    );
    await expect(fetcher.fetch(loop)).rejects.toThrow(/more than 2 redirects/);
    expect(seen).toHaveLength(3);
  });

  it("connects to the address it checked: a name rebinding to loopback after the check reaches nothing", async () => {
    // The first answer is public (it passes the check); every later answer is 127.0.0.1, where the
    // server listens. Resolving again for the connect would reach the server; the pin must not.
    let answers = 0;
    const rebinding: Resolve = async () => {
      answers += 1;
      return [{ address: answers === 1 ? "1.1.1.1" : "127.0.0.1", family: 4 }];
    };
    // "localhost": were the connect to resolve the name itself (system resolver), it would also land
    // on 127.0.0.1.
    const fetcher = guarded({ resolve: rebinding, connectTimeoutMs: 2_000 });
    await expect(fetcher.fetch(`http://localhost:${port}/secret`)).rejects.toThrow();
    expect(seen).toEqual([]);
    expect(answers).toBe(1);
  });
});
