import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPublicAddress } from "./address-policy.ts";
import { assertPublicUrl, EgressRefusedError, guardedFetch } from "./guarded-fetch.ts";

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
    ["not-an-ip", false],
  ])("%s → %s", (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

describe("guardedFetch", () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === "/to-metadata")
        response.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
      else if (request.url === "/to-self") response.writeHead(302, { location: "/image" }).end();
      else response.writeHead(200, { "content-type": "image/png" }).end("png");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("refuses loopback, link-local and private literals, and other schemes", async () => {
    for (const url of [
      `${base}/image`,
      "http://169.254.169.254/latest/",
      "http://10.0.0.5/a.jpg",
      "file:///etc/passwd",
      "ftp://example.com/a",
    ]) {
      await expect(guardedFetch(url)).rejects.toBeInstanceOf(EgressRefusedError);
    }
  });

  it("refuses a name that resolves to loopback (checked after DNS)", async () => {
    await expect(assertPublicUrl("http://localhost:1/a.jpg")).rejects.toThrow(
      /resolves to .*not a public address/,
    );
  });

  it("fetches an allow-listed host, and follows its redirects only while they stay allowed", async () => {
    const allow = { allowHosts: ["127.0.0.1"] };
    expect(await (await guardedFetch(`${base}/to-self`, {}, allow)).text()).toBe("png");
    await expect(guardedFetch(`${base}/to-metadata`, {}, allow)).rejects.toThrow(/169\.254\.169\.254/);
  });
});
