/**
 * A JSON writer that can print numbers the way the upstream does (`0.00`, `5242880.00`) and,
 * when asked, as strings instead (`"0.00"`): JSON.stringify can do neither.
 */
export class Num {
  constructor(readonly text: string) {}
}

/** `asString` is asked once per `Num`, so a seeded coin can mix both forms in one answer. */
export function writeJson(value: unknown, asString: () => boolean): string {
  if (value instanceof Num) return asString() ? JSON.stringify(value.text) : value.text;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => writeJson(v, asString)).join(',')}]`;
  const fields: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) fields.push(`${JSON.stringify(k)}:${writeJson(v, asString)}`);
  }
  return `{${fields.join(',')}}`;
}

/** mulberry32: small, fast and good enough for test data; the same seed gives the same data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
