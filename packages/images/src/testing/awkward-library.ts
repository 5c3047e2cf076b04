import { constants, crc32, deflateRawSync } from "node:zlib";
import sharp from "sharp";

/**
 * A library of the files real image libraries hold, generated at test time (never committed): phone
 * photos with EXIF rotations, 16-bit, CMYK, grey and transparent images, TIFF, AVIF, an animated
 * GIF, a panorama, a thumbnail, and the broken ones: truncated, empty, text named .jpg, SVG, and a
 * decompression bomb. Tests decide what each should become; this only makes the bytes.
 */
export interface AwkwardFile {
  name: string;
  bytes: Buffer;
  contentType: string;
  /** The size a viewer shows (orientation applied), where the file is an image. */
  displayed?: { width: number; height: number };
}

export const AWKWARD_FILE_NAMES = [
  "phone-rotated-6.jpg",
  "phone-rotated-8.jpg",
  "deep-16bit.png",
  "print-cmyk.jpg",
  "grey.jpg",
  "cutout-alpha.png",
  "cutout-alpha.webp",
  "scan.tiff",
  "photo.avif",
  "animated.gif",
  "panorama.jpg",
  "icon-32.png",
  "truncated.jpg",
  "empty.jpg",
  "notes.jpg",
  "drawing.svg",
  "bomb-40000.png",
] as const;
export type AwkwardFileName = (typeof AWKWARD_FILE_NAMES)[number];

/**
 * A gradient with noise: real enough for codecs, fast to make. `noise` is the most each channel
 * strays from the gradient (a noisy 24 MP photo at 90 is about 11 MB of JPEG at quality 90).
 */
export async function photoLike(width: number, height: number, seed = 1, noise = 15): Promise<sharp.Sharp> {
  const data = Buffer.alloc(width * height * 3);
  const range = noise + 1;
  let x = seed >>> 0 || 1;
  for (let y = 0, i = 0; y < height; y += 1) {
    const g = 30 + Math.floor((y * 120) / height);
    for (let c = 0; c < width; c += 1) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const r = x >>> 0;
      data[i++] = 30 + Math.floor((c * 120) / width) + (r % range);
      data[i++] = g + ((r >>> 8) % range);
      data[i++] = 60 + ((r >>> 16) % range);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

export async function awkwardLibrary(
  options: { photoWidth?: number; photoHeight?: number } = {},
): Promise<AwkwardFile[]> {
  const width = options.photoWidth ?? 6000;
  const height = options.photoHeight ?? 4000;
  const photo = await photoLike(width, height);
  const rotated = (orientation: number) =>
    photo.clone().withMetadata({ orientation }).jpeg({ quality: 90, optimiseCoding: false }).toBuffer();
  const small = async () => photoLike(640, 480, 7);
  const alphaPixels = async () =>
    (await small()).ensureAlpha().composite([
      {
        input: Buffer.from(
          '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><circle cx="320" cy="240" r="200"/></svg>',
        ),
        blend: "dest-in",
      },
    ]);
  const truncatedSource = await (await photoLike(1200, 900, 3)).jpeg({ quality: 92 }).toBuffer();
  const frames = await Promise.all(
    ["#d33", "#3d3", "#33d"].map((background) =>
      sharp({ create: { width: 120, height: 90, channels: 3, background } })
        .png()
        .toBuffer(),
    ),
  );
  const files: AwkwardFile[] = [
    jpeg("phone-rotated-6.jpg", await rotated(6), { width: height, height: width }),
    jpeg("phone-rotated-8.jpg", await rotated(8), { width: height, height: width }),
    png("deep-16bit.png", await (await small()).toColourspace("rgb16").png().toBuffer(), {
      width: 640,
      height: 480,
    }),
    jpeg("print-cmyk.jpg", await (await small()).toColourspace("cmyk").jpeg().toBuffer(), {
      width: 640,
      height: 480,
    }),
    jpeg("grey.jpg", await (await small()).toColourspace("b-w").jpeg().toBuffer(), {
      width: 640,
      height: 480,
    }),
    png("cutout-alpha.png", await (await alphaPixels()).png().toBuffer(), { width: 640, height: 480 }),
    {
      name: "cutout-alpha.webp",
      bytes: await (await alphaPixels()).webp().toBuffer(),
      contentType: "image/webp",
      displayed: { width: 640, height: 480 },
    },
    {
      name: "scan.tiff",
      bytes: await (await small()).tiff({ compression: "lzw" }).toBuffer(),
      contentType: "image/tiff",
      displayed: { width: 640, height: 480 },
    },
    {
      name: "photo.avif",
      bytes: await (await small()).avif({ effort: 0 }).toBuffer(),
      contentType: "image/avif",
      displayed: { width: 640, height: 480 },
    },
    {
      name: "animated.gif",
      bytes: await sharp(frames, { join: { animated: true } })
        .gif({ delay: 200 })
        .toBuffer(),
      contentType: "image/gif",
      displayed: { width: 120, height: 90 },
    },
    jpeg("panorama.jpg", await (await photoLike(8000, 300, 5)).jpeg().toBuffer(), {
      width: 8000,
      height: 300,
    }),
    png("icon-32.png", await (await photoLike(32, 32, 9)).png().toBuffer(), { width: 32, height: 32 }),
    jpeg("truncated.jpg", truncatedSource.subarray(0, Math.floor(truncatedSource.length * 0.6))),
    jpeg("empty.jpg", Buffer.alloc(0)),
    jpeg("notes.jpg", Buffer.from("Shot list for Tuesday:\n- the red shoes\n- the blue bag\n")),
    {
      name: "drawing.svg",
      bytes: Buffer.from(
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300"><image href="http://169.254.169.254/latest/meta-data/" width="400" height="300"/></svg>',
      ),
      contentType: "image/svg+xml",
    },
    png("bomb-40000.png", zeroPng(40_000, 40_000)),
  ];
  return files;
}

function jpeg(name: string, bytes: Buffer, displayed?: { width: number; height: number }): AwkwardFile {
  return { name, bytes, contentType: "image/jpeg", ...(displayed ? { displayed } : {}) };
}

function png(name: string, bytes: Buffer, displayed?: { width: number; height: number }): AwkwardFile {
  return { name, bytes, contentType: "image/png", ...(displayed ? { displayed } : {}) };
}

/**
 * A valid 8-bit RGB PNG of `width`×`height` black pixels, made without allocating them: every row
 * is a filter byte and zeros, so the zlib stream is one compressed block of zeros, flushed so that it
 * stands alone, repeated; its Adler-32 follows from the length alone. 40,000×40,000 is about 4.7 MB
 * of file for 4.8 GB of pixels: a decompression bomb a header reader must refuse.
 */
export function zeroPng(width: number, height: number): Buffer {
  const rowBytes = 1 + width * 3;
  const total = rowBytes * height;
  const piece = 16 * 1024 * 1024;
  const block = deflateRawSync(Buffer.alloc(piece), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  const blocks: Buffer[] = [Buffer.from([0x78, 0xda])];
  let left = total;
  for (; left >= piece; left -= piece) blocks.push(block);
  if (left > 0)
    blocks.push(deflateRawSync(Buffer.alloc(left), { level: 9, finishFlush: constants.Z_FULL_FLUSH }));
  blocks.push(Buffer.from([0x03, 0x00])); // a final, empty block with fixed codes
  // Adler-32 of zeros: A stays 1, B adds A once per byte.
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((total % 65521) << 16) | 1) >>> 0);
  blocks.push(adler);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", Buffer.concat(blocks)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(Buffer.from(type, "latin1"))) >>> 0);
  return Buffer.concat([head, data, crc]);
}
