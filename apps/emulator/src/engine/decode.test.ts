import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DecodeOptions, decodeInputImage } from "./decode.ts";
import { EngineInputError } from "./errors.ts";
import { rawInput } from "./raw-image.ts";
import { encodePng, gradientImage } from "./test-images.ts";

const source = gradientImage(40, 20, { alpha: true });
const LIMITS: DecodeOptions = { fetchTimeoutMs: 2_000, maxBytes: 64 * 1024 };
let png: Buffer;
let server: Server;
let baseUrl: string;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(EngineInputError);
  return (error as EngineInputError).code;
}

beforeAll(async () => {
  png = await encodePng(source);
  server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    if (path === "/image.png") {
      response.writeHead(200, { "content-type": "image/png" }).end(png);
    } else if (path === "/big-declared") {
      response.writeHead(200, { "content-length": String(LIMITS.maxBytes + 1) });
      response.end(Buffer.alloc(LIMITS.maxBytes + 1));
    } else if (path === "/big-chunked") {
      response.writeHead(200);
      for (let i = 0; i < 20; i++) response.write(Buffer.alloc(8 * 1024));
      response.end();
    } else if (path === "/hang") {
      // Never answers: exercises fetchTimeoutMs.
    } else {
      response.writeHead(404).end();
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, "close");
});

describe("decodeInputImage", () => {
  it("decodes the same pixels from base64, a data URI and an http URL", async () => {
    const fromBase64 = await decodeInputImage(png.toString("base64"), LIMITS);
    const fromDataUri = await decodeInputImage(`data:image/png;base64,${png.toString("base64")}`, LIMITS);
    const fromUrl = await decodeInputImage(`${baseUrl}/image.png`, LIMITS);
    for (const decoded of [fromBase64, fromDataUri, fromUrl]) {
      expect({ width: decoded.width, height: decoded.height, hasAlpha: decoded.hasAlpha }).toEqual({
        width: 40,
        height: 20,
        hasAlpha: true,
      });
      expect(decoded.data.equals(source.data)).toBe(true);
    }
  });

  it("looks a UUID up through resolveUUID and reports an unknown one as imageNotFound", async () => {
    const known = "0b7a5c1e-2f3d-4a5b-8c9d-0e1f2a3b4c5d";
    const resolveUUID = (uuid: string) => (uuid === known ? png : undefined);
    const decoded = await decodeInputImage(known, { ...LIMITS, resolveUUID });
    expect(decoded.data.equals(source.data)).toBe(true);
    const unknown = "11111111-2222-4333-8444-555555555555";
    expect(await codeOf(decodeInputImage(unknown, { ...LIMITS, resolveUUID }))).toBe("imageNotFound");
    expect(await codeOf(decodeInputImage(unknown, LIMITS))).toBe("imageNotFound");
  });

  it("applies EXIF orientation 6, swapping width and height", async () => {
    const opaque = gradientImage(40, 20);
    const rotated = await sharp(opaque.data, rawInput(opaque))
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    expect((await sharp(rotated).metadata()).orientation).toBe(6);
    const decoded = await decodeInputImage(rotated.toString("base64"), LIMITS);
    expect({ width: decoded.width, height: decoded.height }).toEqual({ width: 20, height: 40 });
    // Orientation 6 turns the stored image 90° clockwise: its bottom-left (red 0, green 255) lands top-left.
    expect(decoded.data[0]).toBeLessThan(40);
    expect(decoded.data[1]).toBeGreaterThan(215);
  });

  it("returns RGBA for opaque JPEG and greyscale PNG, with hasAlpha false", async () => {
    const jpeg = await sharp(source.data, rawInput(source)).jpeg().toBuffer();
    const grey = await sharp(source.data, rawInput(source)).greyscale().removeAlpha().png().toBuffer();
    for (const bytes of [jpeg, grey]) {
      const decoded = await decodeInputImage(bytes.toString("base64"), LIMITS);
      expect(decoded.hasAlpha).toBe(false);
      expect(decoded.data.length).toBe(40 * 20 * 4);
      expect(decoded.data[3]).toBe(255);
    }
  });

  it("reports a download over maxBytes as inputTooLarge, declared or streamed", async () => {
    expect(await codeOf(decodeInputImage(`${baseUrl}/big-declared`, LIMITS))).toBe("inputTooLarge");
    expect(await codeOf(decodeInputImage(`${baseUrl}/big-chunked`, LIMITS))).toBe("inputTooLarge");
    const bigBase64 = Buffer.alloc(LIMITS.maxBytes * 2).toString("base64");
    expect(await codeOf(decodeInputImage(bigBase64, LIMITS))).toBe("inputTooLarge");
  });

  it("reports refused connections, HTTP errors and timeouts as downloadFailed", async () => {
    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, "close");
    expect(await codeOf(decodeInputImage(`http://127.0.0.1:${port}/x.png`, LIMITS))).toBe("downloadFailed");
    expect(await codeOf(decodeInputImage(`${baseUrl}/missing.png`, LIMITS))).toBe("downloadFailed");
    const hang = await decodeInputImage(`${baseUrl}/hang?X-Amz-Signature=secret`, {
      ...LIMITS,
      fetchTimeoutMs: 100,
    }).catch((thrown: unknown) => thrown as EngineInputError);
    expect(hang).toMatchObject({ code: "downloadFailed", message: expect.stringMatching(/timed out/) });
    expect(String(hang)).not.toContain("secret");
  });

  it("reports undecodable or unsupported bytes and non-image strings as invalidImage", async () => {
    const gif = await sharp(source.data, rawInput(source)).gif().toBuffer();
    expect(await codeOf(decodeInputImage(gif.toString("base64"), LIMITS))).toBe("invalidImage");
    expect(await codeOf(decodeInputImage(Buffer.from("not an image").toString("base64"), LIMITS))).toBe(
      "invalidImage",
    );
    expect(await codeOf(decodeInputImage("ftp://example.com/a.png", LIMITS))).toBe("invalidImage");
    expect(await codeOf(decodeInputImage("", LIMITS))).toBe("invalidImage");
    expect(await codeOf(decodeInputImage("data:image/png,%E0%A4%A", LIMITS))).toBe("invalidImage");
  });

  it("names the configured field in its errors", async () => {
    const error = await decodeInputImage("", { ...LIMITS, field: "advancedFeatures.watermark.image" }).catch(
      (thrown: unknown) => thrown,
    );
    expect(error).toMatchObject({ field: "advancedFeatures.watermark.image", code: "invalidImage" });
  });
});
