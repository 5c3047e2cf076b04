/** Raw 8-bit RGBA pixels, row-major, 4 bytes per pixel: the currency between engine stages. */
export type RawImage = { data: Buffer; width: number; height: number };

export const RGBA_CHANNELS = 4;

/** sharp's input options for a RawImage buffer. */
export function rawInput(image: RawImage): { raw: { width: number; height: number; channels: 4 } } {
  return { raw: { width: image.width, height: image.height, channels: RGBA_CHANNELS } };
}
