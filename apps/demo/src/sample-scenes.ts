import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { LOCAL_BUCKETS } from "@reframe/local-stack";
import { seededRandom } from "@reframe/testkit";
import sharp from "sharp";

/**
 * The demo's source images, drawn by the project (no third-party files, no licence to track):
 * procedural scenes with a sky, a horizon, texture and a subject, so that an outpainted border has
 * something to continue. Deterministic: the same scene is the same bytes on every machine.
 */

export interface SampleScene {
  name: string;
  width: number;
  height: number;
  svg: string;
}

const grain = (id: string, opacity: number) => `
  <filter id="${id}"><feTurbulence type="fractalNoise" baseFrequency="0.9" numOctaves="2" seed="7"/>
  <feColorMatrix type="saturate" values="0"/></filter>
  <rect width="100%" height="100%" filter="url(#${id})" opacity="${opacity}"/>`;

function lakeside(): SampleScene {
  const width = 768;
  const height = 512;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#5b9bd5"/><stop offset="1" stop-color="#f4d9b0"/></linearGradient>
    <linearGradient id="lake" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#3d6e8f"/><stop offset="1" stop-color="#1d3b52"/></linearGradient>
  </defs>
  <rect width="${width}" height="${height}" fill="url(#sky)"/>
  <circle cx="590" cy="150" r="46" fill="#fff3c4"/>
  <polygon points="0,330 120,190 230,300 350,160 470,290 600,200 768,320 768,340 0,340" fill="#6c7a89"/>
  <polygon points="0,345 160,260 300,340 420,250 560,330 768,270 768,350 0,350" fill="#4f5d4a"/>
  <rect y="345" width="${width}" height="${height - 345}" fill="url(#lake)"/>
  <g fill="#f7f1e3" opacity="0.35">${Array.from({ length: 12 }, (_, i) => `<rect x="${60 * i + 10}" y="${370 + (i % 4) * 30}" width="40" height="2"/>`).join("")}</g>
  <g transform="translate(300,285)"><rect width="90" height="60" fill="#8b4a2f"/><polygon points="-10,0 45,-38 100,0" fill="#5a2e1c"/><rect x="35" y="25" width="20" height="35" fill="#2b1a10"/></g>
  <g fill="#2f4a2a">${[80, 140, 470, 520].map((x) => `<polygon points="${x},345 ${x + 22},260 ${x + 44},345"/>`).join("")}</g>
  ${grain("g1", 0.12)}
</svg>`;
  return { name: "lakeside", width, height, svg };
}

function desert(): SampleScene {
  const width = 640;
  const height = 640;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#f0824a"/><stop offset="1" stop-color="#fbd38d"/></linearGradient></defs>
  <rect width="${width}" height="${height}" fill="url(#sky)"/>
  <circle cx="320" cy="300" r="70" fill="#ffe8a3" opacity="0.9"/>
  <path d="M0,380 C160,320 300,420 640,360 L640,640 L0,640 Z" fill="#d9a066"/>
  <path d="M0,470 C200,410 420,520 640,450 L640,640 L0,640 Z" fill="#c28350"/>
  <g fill="#3f6b3a" transform="translate(400,330)"><rect x="0" y="0" width="26" height="170" rx="13"/><rect x="-34" y="50" width="22" height="70" rx="11"/><rect x="-34" y="100" width="50" height="20" rx="10"/><rect x="38" y="30" width="22" height="60" rx="11"/><rect x="14" y="70" width="46" height="20" rx="10"/></g>
  ${grain("g2", 0.1)}
</svg>`;
  return { name: "desert", width, height, svg };
}

function cityNight(): SampleScene {
  const width = 512;
  const height = 768;
  const next = seededRandom(42);
  const stars = Array.from(
    { length: 70 },
    () =>
      `<circle cx="${(next() * width).toFixed(1)}" cy="${(next() * 330).toFixed(1)}" r="${(next() * 1.6 + 0.3).toFixed(2)}"/>`,
  ).join("");
  const buildings = Array.from({ length: 7 }, (_, i) => {
    const x = i * 74 - 6;
    const top = 380 + Math.round(next() * 160);
    const windows = Array.from({ length: 24 }, (_, w) =>
      next() > 0.45
        ? `<rect x="${x + 10 + (w % 4) * 15}" y="${top + 14 + Math.floor(w / 4) * 26}" width="8" height="12" fill="#ffd46b"/>`
        : "",
    ).join("");
    return `<rect x="${x}" y="${top}" width="70" height="${height - top}" fill="#1c2233"/>${windows}`;
  }).join("");
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#0b1026"/><stop offset="1" stop-color="#3b2f5c"/></linearGradient></defs>
  <rect width="${width}" height="${height}" fill="url(#sky)"/>
  <g fill="#ffffff" opacity="0.85">${stars}</g>
  <circle cx="110" cy="140" r="34" fill="#f1f0e8"/>
  ${buildings}
  ${grain("g3", 0.08)}
</svg>`;
  return { name: "city-night", width, height, svg };
}

function product(): SampleScene {
  const width = 800;
  const height = 500;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs>
    <radialGradient id="studio" cx="0.5" cy="0.4" r="0.8"><stop offset="0" stop-color="#f4f1ec"/><stop offset="1" stop-color="#b9b2a7"/></radialGradient>
    <linearGradient id="glass" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="#1f6f5c"/><stop offset="0.35" stop-color="#4fb59a"/><stop offset="1" stop-color="#164f42"/></linearGradient>
  </defs>
  <rect width="${width}" height="${height}" fill="url(#studio)"/>
  <rect y="330" width="${width}" height="120" fill="#a39b8f" opacity="0.5"/>
  <ellipse cx="400" cy="380" rx="95" ry="16" fill="#000" opacity="0.25"/>
  <path d="M360,120 L440,120 L440,160 C480,180 490,210 490,240 L490,360 C490,375 480,380 465,380 L335,380 C320,380 310,375 310,360 L310,240 C310,210 320,180 360,160 Z" fill="url(#glass)"/>
  <rect x="372" y="80" width="56" height="44" rx="6" fill="#2d2a26"/>
  <rect x="335" y="250" width="130" height="70" rx="4" fill="#f6efe2"/>
  <rect x="350" y="270" width="100" height="10" fill="#6b5a45"/><rect x="360" y="290" width="80" height="6" fill="#9c8a72"/>
  ${grain("g4", 0.06)}
</svg>`;
  return { name: "product", width, height, svg };
}

export const SAMPLE_SCENES: readonly SampleScene[] = [lakeside(), desert(), cityNight(), product()];

export async function renderSampleScene(scene: SampleScene): Promise<Buffer> {
  return sharp(Buffer.from(scene.svg)).jpeg({ quality: 90 }).toBuffer();
}

export interface UploadedSample {
  key: string;
  name: string;
  width: number;
  height: number;
  bytes: Buffer;
}

/** Renders every sample scene and puts it at `samples/<name>.jpg` in the sources bucket. */
export async function uploadSampleScenes(
  s3: S3Client,
  bucket: string = LOCAL_BUCKETS.sources,
): Promise<UploadedSample[]> {
  return Promise.all(
    SAMPLE_SCENES.map(async (scene) => {
      const bytes = await renderSampleScene(scene);
      const key = `samples/${scene.name}.jpg`;
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentType: "image/jpeg" }),
      );
      return { key, name: scene.name, width: scene.width, height: scene.height, bytes };
    }),
  );
}
