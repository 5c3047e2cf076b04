import { once } from "node:events";
import { readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGuardedFetch, type GuardedFetch } from "@reframe/egress";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectSource } from "./estimate.ts";
import { downloadSource } from "./source-bytes.ts";

const LIMITS = { maxPixels: 100_000_000, maxBytes: 200_000_000 };

/**
 * URL sources over a real HTTP server: one that answers ranges (206), one that ignores them and sends
 * the whole body (200), as some origins do. Bytes sent are counted, to show a header read stops early.
 */
describe("URL sources", () => {
  let server: Server;
  let base: string;
  let guard: GuardedFetch;
  let image: Buffer;
  let sent = 0;
  beforeAll(async () => {
    const sharp = (await import("sharp")).default;
    const pixels = Buffer.alloc(1500 * 1000 * 3);
    for (let i = 0; i < pixels.length; i += 1) pixels[i] = (i * 2654435761) >>> 24;
    image = await sharp(pixels, { raw: { width: 1500, height: 1000, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
    server = createServer((request, response) => {
      const range = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? "");
      if (request.url === "/ranges.jpg" && range) {
        const start = Number(range[1]);
        const end = Math.min(Number(range[2]), image.length - 1);
        response.writeHead(206, {
          "content-range": `bytes ${start}-${end}/${image.length}`,
          "content-length": end - start + 1,
        });
        sent += end - start + 1;
        response.end(image.subarray(start, end + 1));
        return;
      }
      response.writeHead(200, { "content-type": "image/jpeg" });
      // Sent in pieces, so a reader that stops early stops the transfer.
      let offset = 0;
      const next = () => {
        if (offset >= image.length) return response.end();
        const piece = image.subarray(offset, offset + 16_384);
        offset += piece.length;
        sent += piece.length;
        if (response.write(piece)) setImmediate(next);
        else response.once("drain", next);
      };
      response.on("close", () => {
        offset = image.length;
      });
      next();
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    guard = createGuardedFetch({ allowHosts: ["127.0.0.1"] });
  });
  afterAll(async () => {
    await guard?.close();
    server?.close();
  });

  it("reads a header by ranges where the server answers them", async () => {
    sent = 0;
    const inspected = await inspectSource(
      { kind: "url", url: `${base}/ranges.jpg` },
      { s3: undefined as never, sourceFetch: guard.fetch, limits: LIMITS },
    );
    expect(inspected).toMatchObject({ ok: true, size: { width: 1500, height: 1000 } });
    expect(sent).toBe(2 * 65_536);
  });

  it("reads a header from a server that ignores ranges without taking the whole body", async () => {
    sent = 0;
    const inspected = await inspectSource(
      { kind: "url", url: `${base}/whole.jpg` },
      { s3: undefined as never, sourceFetch: guard.fetch, limits: LIMITS },
    );
    expect(inspected).toMatchObject({
      ok: true,
      size: { width: 1500, height: 1000 },
      image: { totalBytes: undefined },
    });
    expect(image.length).toBeGreaterThan(400_000);
    await expect.poll(() => sent).toBeLessThan(image.length);
  });

  it("downloads a URL source to a file, and stops past MAX_SOURCE_BYTES though no length was given", async () => {
    const file = join(tmpdir(), `reframe-source-${process.pid}.jpg`);
    try {
      expect(
        await downloadSource(
          { kind: "url", url: `${base}/whole.jpg` },
          { s3: undefined as never, sourceFetch: guard.fetch },
          file,
          LIMITS,
        ),
      ).toBe(image.length);
      expect((await readFile(file)).equals(image)).toBe(true);
      const error = await downloadSource(
        { kind: "url", url: `${base}/whole.jpg` },
        { s3: undefined as never, sourceFetch: guard.fetch },
        file,
        { ...LIMITS, maxBytes: 100_000 },
      ).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: "tooLarge" });
    } finally {
      await rm(file, { force: true });
    }
  });
});
