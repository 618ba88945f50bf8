import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Decimal } from '../../functions/commons/units.ts';

/**
 * A generic JSON form of plain data with Decimals and Maps in it, so the simulator's whole
 * state object can be written to disk and read back without a hand-written field list:
 * a new data field of the state is saved as soon as it exists.
 */

const DECIMAL = '$decimal';
const MAP = '$map';

export type Encoded = null | boolean | number | string | Encoded[] | { [key: string]: Encoded };

export function encode(value: unknown): Encoded {
  if (value instanceof Decimal) return { [DECIMAL]: value.toFixed() };
  if (value instanceof Map)
    return { [MAP]: [...value.entries()].map(([k, v]) => [encode(k), encode(v)]) };
  if (Array.isArray(value)) return value.map(encode);
  if (value === null || value === undefined) return null;
  if (typeof value === 'object') {
    const out: Record<string, Encoded> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = encode(v);
    return out;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return value;
  }
  throw new TypeError(`cannot save a ${typeof value} in the simulator state`);
}

export function decode(value: Encoded): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (value === null || typeof value !== 'object') return value;
  const decimal = value[DECIMAL];
  if (typeof decimal === 'string' && Object.keys(value).length === 1) return new Decimal(decimal);
  const map = value[MAP];
  if (Array.isArray(map) && Object.keys(value).length === 1) {
    return new Map(
      map.map((pair) => {
        const [k, v] = Array.isArray(pair) ? pair : [];
        return [decode(k ?? null), decode(v ?? null)];
      }),
    );
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = decode(v);
  return out;
}

/** Writes atomically (temporary file, then rename), so a crash never leaves half a file. */
export function writeSnapshot(path: string, data: Record<string, unknown>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ version: 1, state: encode(data) })}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** The saved fields, or undefined when there is no file; a damaged file is an error. */
export function readSnapshot(path: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new Error(`the simulator state ${path} is not JSON; delete it to start afresh`, {
      cause,
    });
  }
  const state = (parsed as { version?: unknown; state?: unknown } | null)?.state;
  if ((parsed as { version?: unknown }).version !== 1 || !state || typeof state !== 'object') {
    throw new Error(`the simulator state ${path} is not a saved state; delete it to start afresh`);
  }
  return decode(state as Encoded) as Record<string, unknown>;
}
