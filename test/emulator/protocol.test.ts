import { readImageHeader } from "@reframe/images";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grayPng, type RunningEmulator, startEmulator, startPeer, task } from "./emulator-fixture.ts";

/** Every option of the API page, and every validation rule, against the emulator over HTTP. */
describe("the emulator's imageInference", () => {
  let emulator: RunningEmulator;
  let peer: Awaited<ReturnType<typeof startPeer>>;
  let dataURI: string;
  let base64: string;
  beforeAll(async () => {
    const png = await grayPng();
    base64 = png.toString("base64");
    dataURI = `data:image/png;base64,${base64}`;
    peer = await startPeer(png);
    emulator = await startEmulator({ EMULATOR_TIME_SCALE: "0.01" });
  });
  afterAll(async () => {
    await emulator?.stop();
    await peer?.close();
  });

  async function generate(extra: Record<string, unknown>) {
    const reply = await emulator.post([task({ inputs: { image: peer.imageUrl }, ...extra })]);
    expect(reply.status, JSON.stringify(reply.json)).toBe(200);
    return reply.json.data!;
  }

  it("outputType URL: the image is served, exactly source + margins, until its ttl passes", async () => {
    const [result] = await generate({
      outputType: "URL",
      ttl: 60,
      outpaint: { top: 10, right: 20, bottom: 30, left: 40 },
    });
    const image = Buffer.from(await (await fetch(String(result!.imageURL))).arrayBuffer());
    expect(readImageHeader(image)).toMatchObject({ format: "png", width: 96 + 60, height: 64 + 40 });
    // ttl 60 s × EMULATOR_TIME_SCALE 0.01: gone within a second.
    await expect
      .poll(async () => (await fetch(String(result!.imageURL))).status, { timeout: 5000 })
      .toBe(404);
  });

  it("outputType base64Data and dataURI carry the bytes in the answer", async () => {
    const [b64] = await generate({ outputType: "base64Data" });
    expect(readImageHeader(Buffer.from(String(b64!.imageBase64Data), "base64"))).toMatchObject({
      width: 128,
      height: 64,
    });
    const [uri] = await generate({ outputType: "dataURI", outputFormat: "WEBP" });
    expect(String(uri!.imageDataURI)).toMatch(/^data:image\/webp;base64,/);
  });

  it("outputFormat and outputQuality: JPG, PNG, WEBP by their magic bytes; quality 20 is smaller than 99", async () => {
    const bytes = async (extra: Record<string, unknown>) =>
      Buffer.from(
        String((await generate({ outputType: "base64Data", ...extra }))[0]!.imageBase64Data),
        "base64",
      );
    expect((await bytes({ outputFormat: "JPG" })).subarray(0, 2).toString("hex")).toBe("ffd8");
    expect((await bytes({ outputFormat: "PNG" })).subarray(1, 4).toString()).toBe("PNG");
    expect((await bytes({ outputFormat: "WEBP" })).subarray(8, 12).toString()).toBe("WEBP");
    const low = await bytes({ outputFormat: "JPG", outputQuality: 20, outpaint: { left: 200, right: 200 } });
    const high = await bytes({ outputFormat: "JPG", outputQuality: 99, outpaint: { left: 200, right: 200 } });
    expect(low.length).toBeLessThan(high.length);
  });

  it("numberResults 3 gives three results with different seeds and imageUUIDs; includeCost and safety are answered", async () => {
    const results = await generate({ numberResults: 3, includeCost: true, safety: { checkContent: true } });
    expect(results).toHaveLength(3);
    expect(new Set(results.map((r) => r.seed)).size).toBe(3);
    expect(new Set(results.map((r) => r.imageUUID)).size).toBe(3);
    expect(results.every((r) => r.cost === 0.1 && r.NSFWContent === false)).toBe(true);
  });

  it("a watermark is drawn where asked", async () => {
    const watermark = {
      text: "REFRAME",
      displayPosition: "bottom-right",
      opacity: 1,
      fontColor: "#ff0000",
      bgColor: "transparent",
    };
    const [result] = await generate({
      outputType: "base64Data",
      advancedFeatures: { watermark },
      outpaint: { left: 200, right: 200 },
    });
    const { data, info } = await sharp(Buffer.from(String(result!.imageBase64Data), "base64"))
      .raw()
      .toBuffer({ resolveWithObject: true });
    const redAt = (x0: number, x1: number, y0: number, y1: number) => {
      let count = 0;
      for (let y = y0; y < y1; y += 1)
        for (let x = x0; x < x1; x += 1) {
          const i = (y * info.width + x) * info.channels;
          if (data[i]! > 200 && data[i + 1]! < 60 && data[i + 2]! < 60) count += 1;
        }
      return count;
    };
    expect(redAt(info.width / 2, info.width, info.height / 2, info.height)).toBeGreaterThan(10);
    expect(redAt(0, info.width / 2, 0, info.height / 2)).toBe(0);
  });

  it("inputs.image as a data URI, base64, or the imageUUID of an earlier result; mode fast", async () => {
    const [first] = await generate({ inputs: { image: dataURI }, settings: { mode: "fast" } });
    expect(first).toHaveProperty("imageUUID");
    await generate({ inputs: { image: base64 } });
    const [chained] = await generate({
      inputs: { image: String(first!.imageUUID) },
      outputType: "base64Data",
    });
    expect(readImageHeader(Buffer.from(String(chained!.imageBase64Data), "base64"))).toMatchObject({
      width: 160,
      height: 64,
    });
  });

  it("settings.autoCrop turns an over-limit canvas into one within the limits", async () => {
    const big = `data:image/png;base64,${(await grayPng(1500, 1000)).toString("base64")}`;
    const outpaint = { top: 600, right: 600, bottom: 600, left: 600 };
    const refused = await emulator.post([task({ inputs: { image: big }, outpaint })]);
    expect(refused.status).toBe(422);
    expect(refused.json.errors![0]).toMatchObject({
      code: "invalidOutpaint",
      parameter: ["outpaint", "settings.autoCrop"],
    });
    const [cropped] = await generate({
      inputs: { image: big },
      outpaint,
      settings: { autoCrop: true },
      outputType: "base64Data",
    });
    const { width, height } = readImageHeader(Buffer.from(String(cropped!.imageBase64Data), "base64"));
    expect(Math.max(width, height)).toBeLessThanOrEqual(2048);
    expect(width * height).toBeLessThanOrEqual(4_194_304);
  });

  it.each([
    [{ width: 1024 }, 400, "unsupportedParameter", "width"],
    [{ height: 1024 }, 400, "unsupportedParameter", "height"],
    [{ positivePrompt: "a beach" }, 400, "unsupportedParameter", "positivePrompt"],
    [{ inputs: {} }, 400, "missingInputsImage", "inputs.image"],
    [{ outputQuality: 19 }, 400, "invalidOutputQuality", "outputQuality"],
    [{ outputQuality: 100 }, 400, "invalidOutputQuality", "outputQuality"],
    [{ ttl: 59 }, 400, "invalidTtl", "ttl"],
    [{ numberResults: 21 }, 400, "invalidNumberResults", "numberResults"],
    [{ outputFormat: "GIF" }, 400, "invalidOutputFormat", "outputFormat"],
    [
      { advancedFeatures: { watermark: { text: "x" } } },
      400,
      "invalidAdvancedFeaturesWatermarkText",
      "advancedFeatures.watermark.text",
    ],
    [
      { advancedFeatures: { watermark: { text: "ok", opacity: 0.555 } } },
      400,
      "invalidAdvancedFeaturesWatermarkOpacity",
      "advancedFeatures.watermark.opacity",
    ],
    [{ outpaint: { top: 0, right: 0, bottom: 0, left: 0 } }, 400, "invalidOutpaint", "outpaint"],
  ])("%j is answered %i %s naming %s", async (extra, status, code, parameter) => {
    const reply = await emulator.post([task({ inputs: { image: dataURI }, ...extra })]);
    expect(reply.status).toBe(status);
    expect(reply.json.errors).toEqual([expect.objectContaining({ code, parameter })]);
  });

  it("a reused taskUUID is conflictTaskUUID; an unknown one on getResponse is taskNotFound", async () => {
    const first = task({ inputs: { image: dataURI } });
    expect((await emulator.post([first])).status).toBe(200);
    const again = await emulator.post([first]);
    expect(again.json.errors).toEqual([
      expect.objectContaining({ code: "conflictTaskUUID", taskUUID: first.taskUUID }),
    ]);
    const unknown = await emulator.post([
      { taskType: "getResponse", taskUUID: "6f1c2f9e-2b7a-4d43-9d8e-0c5a2b1e7f10" },
    ]);
    expect(unknown.json.errors).toEqual([expect.objectContaining({ code: "taskNotFound" })]);
  });

  it("POST /admin/outage {seconds}: every request is 503 until it ends, counted by what it asked", async () => {
    const admin = (method: string, body?: unknown) =>
      fetch(`${emulator.url}/admin/outage`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    expect((await admin("POST", { seconds: -1 })).status).toBe(400);
    expect(await (await admin("POST", { seconds: 1.5 })).json()).toMatchObject({ active: true, requests: 0 });
    const submit = await emulator.post([task({ inputs: { image: dataURI } })]);
    expect(submit.status).toBe(503);
    expect(submit.json.errors).toEqual([expect.objectContaining({ code: "serviceUnavailable" })]);
    const poll = await emulator.post([
      { taskType: "getResponse", taskUUID: "6f1c2f9e-2b7a-4d43-9d8e-0c5a2b1e7f11" },
    ]);
    expect(poll.status).toBe(503);
    expect(await (await admin("GET")).json()).toMatchObject({
      active: true,
      requests: 2,
      submits: 1,
      polls: 1,
    });
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect((await emulator.post([task({ inputs: { image: dataURI } })])).status).toBe(200);
    expect((await emulator.counters()).outage).toMatchObject({ active: false, requests: 2 });
    // {seconds: 0} ends an outage at once.
    await admin("POST", { seconds: 60 });
    await admin("POST", { seconds: 0 });
    expect((await emulator.post([task({ inputs: { image: dataURI } })])).status).toBe(200);
  });

  it("auth: a bad key is 401 invalidApiKey, none is 401 missingApiKey, an authentication task works", async () => {
    expect((await emulator.post([task()], "wrong")).json.errors![0]).toMatchObject({
      code: "invalidApiKey",
      parameter: "apiKey",
    });
    expect((await emulator.post([task()], null)).status).toBe(401);
    const viaTask = await emulator.post(
      [{ taskType: "authentication", apiKey: "emulator-test-key" }, task({ inputs: { image: dataURI } })],
      null,
    );
    expect(viaTask.status).toBe(200);
  });

  it("a body that is not an array or not JSON is 400; a mixed batch answers each task", async () => {
    expect((await emulator.post({ taskType: "imageInference" })).status).toBe(400);
    expect((await emulator.post("{oops")).status).toBe(400);
    const bad = task({ width: 5 });
    const mixed = await emulator.post([
      task({ inputs: { image: dataURI } }),
      bad,
      task({ inputs: { image: dataURI } }),
    ]);
    expect(mixed.status).toBe(200);
    expect(mixed.json.data).toHaveLength(2);
    expect(mixed.json.errors).toEqual([
      expect.objectContaining({ taskUUID: bad.taskUUID, code: "unsupportedParameter" }),
    ]);
  });
});

/** EMULATOR_INPUT_FORMATS and EMULATOR_INPUT_PIXELS: what the provider documents, and the choice where it does not. */
describe("the emulator's inputs", () => {
  const small = () => sharp({ create: { width: 96, height: 64, channels: 3, background: "#468" } });
  const dataUri = (bytes: Buffer, type: string) => `data:${type};base64,${bytes.toString("base64")}`;
  let strict: RunningEmulator;
  let lenient: RunningEmulator;
  beforeAll(async () => {
    [strict, lenient] = await Promise.all([
      startEmulator(),
      startEmulator({ EMULATOR_INPUT_FORMATS: "jpeg,png,webp,tiff", EMULATOR_INPUT_PIXELS: "any" }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([strict?.stop(), lenient?.stop()]);
  });

  it("takes JPEG, PNG and WebP; refuses TIFF, CMYK and 16-bit by default with invalidImage; takes them when configured", async () => {
    const inputs = {
      jpeg: dataUri(await small().jpeg().toBuffer(), "image/jpeg"),
      png: dataUri(await small().png().toBuffer(), "image/png"),
      webp: dataUri(await small().webp().toBuffer(), "image/webp"),
      tiff: dataUri(await small().tiff().toBuffer(), "image/tiff"),
      cmyk: dataUri(await small().toColourspace("cmyk").jpeg().toBuffer(), "image/jpeg"),
      deep: dataUri(await small().toColourspace("rgb16").png().toBuffer(), "image/png"),
    };
    const answer = async (emulator: RunningEmulator, image: string) => {
      const reply = await emulator.post([task({ inputs: { image }, deliveryMethod: "sync" })]);
      return reply.status === 200 ? "ok" : `${reply.status} ${reply.json.errors?.[0]?.code}`;
    };
    for (const name of ["jpeg", "png", "webp"] as const)
      expect(await answer(strict, inputs[name])).toBe("ok");
    for (const name of ["tiff", "cmyk", "deep"] as const) {
      expect(await answer(strict, inputs[name]), name).toBe("400 invalidImage");
      expect(await answer(lenient, inputs[name]), name).toBe("ok");
    }
  });
});
