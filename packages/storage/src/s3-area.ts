/**
 * A part of S3: the keys of one bucket that start with a prefix ("" is the whole bucket). Output
 * areas, the scratch area and what a trigger watches are areas; the loop guard compares them.
 */
export interface S3Area {
  bucket: string;
  prefix: string;
}

export function inArea(area: S3Area, object: { bucket: string; key: string }): boolean {
  return area.bucket === object.bucket && object.key.startsWith(area.prefix);
}

/** Some key lies in both: same bucket, and one prefix starts with the other. */
export function areasOverlap(a: S3Area, b: S3Area): boolean {
  return a.bucket === b.bucket && (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix));
}

/** Every key of `inner` lies in `outer`. */
export function areaContains(outer: S3Area, inner: S3Area): boolean {
  return outer.bucket === inner.bucket && inner.prefix.startsWith(outer.prefix);
}

export function describeArea(area: S3Area): string {
  return `s3://${area.bucket}/${area.prefix}`;
}

/**
 * The worker's scratch prefix (pre-scaled sources), as the areas that are never a source besides
 * outputs: none when no scratch bucket is configured.
 */
export function scratchAreas(scratch: { bucket?: string | undefined; prefix: string }): S3Area[] {
  return scratch.bucket ? [{ bucket: scratch.bucket, prefix: scratch.prefix }] : [];
}
