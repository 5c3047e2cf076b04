import { isIP } from "node:net";

/**
 * Address ranges a URL given by a user must never reach from inside our network: loopback, private,
 * link-local (169.254.169.254 is the cloud metadata service), carrier-grade NAT, benchmarking,
 * multicast and reserved, and their IPv6 counterparts. An IPv6 address that carries an IPv4 address
 * (IPv4-mapped, IPv4-compatible, NAT64, 6to4) is judged by that IPv4 address, however it is written.
 */
const BLOCKED_V4: readonly [string, number][] = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
];

function v4ToNumber(address: string): number {
  return address.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

function inV4Range(address: string, [base, bits]: [string, number]): boolean {
  const size = 2 ** (32 - bits);
  return Math.floor(v4ToNumber(address) / size) === Math.floor(v4ToNumber(base) / size);
}

/**
 * The eight 16-bit groups of an IPv6 literal, or undefined when it is not one. An embedded dotted
 * quad ("::ffff:127.0.0.1") counts as the last two groups; the URL parser writes the same address as
 * "::ffff:7f00:1", so both spellings must come out alike.
 */
function v6Groups(address: string): number[] | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address.toLowerCase().replace(/%.*$/, "");
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string) =>
    part === "" ? [] : part.split(":").map((group) => Number.parseInt(group, 16));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function v4FromGroups(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
}

/** True when `address` (an IP literal) is a public unicast address. */
export function isPublicAddress(address: string): boolean {
  if (isIP(address) === 4) return !BLOCKED_V4.some((range) => inV4Range(address, range));
  const groups = v6Groups(address);
  if (!groups) return false;
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const zeroUpTo = (n: number) => groups.slice(0, n).every((group) => group === 0);
  // ::/96 (:: and ::1 among them, and the deprecated IPv4-compatible form) and ::ffff:0:0/96 (IPv4-
  // mapped) carry an IPv4 address in the last 32 bits: that address decides.
  if (zeroUpTo(6)) return g6 !== 0 && isPublicAddress(v4FromGroups(g6, g7));
  if (zeroUpTo(5) && g5 === 0xffff) return isPublicAddress(v4FromGroups(g6, g7));
  // 64:ff9b::/96 (NAT64) reaches the IPv4 address it embeds; 64:ff9b:1::/48 is local-use NAT64.
  if (g0 === 0x64 && g1 === 0xff9b)
    return g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0 && isPublicAddress(v4FromGroups(g6, g7));
  // 2002::/16 (6to4) embeds an IPv4 address in bits 16-47.
  if (g0 === 0x2002) return isPublicAddress(v4FromGroups(g1, g2));
  if (g0 === 0x2001 && (g1 === 0 || g1 === 0xdb8)) return false; // Teredo, documentation
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return false; // 100::/64 discard
  if ((g0 & 0xfe00) === 0xfc00) return false; // fc00::/7 unique local
  if ((g0 & 0xffc0) === 0xfe80 || (g0 & 0xffc0) === 0xfec0) return false; // link-local, site-local
  if ((g0 & 0xff00) === 0xff00) return false; // ff00::/8 multicast
  return true;
}
