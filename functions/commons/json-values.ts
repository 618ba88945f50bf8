/**
 * The few checks every typed read of parsed JSON shares (webhook payloads, the Checkout
 * opt-in, balance-changes messages): each reader keeps its own rules and errors.
 */

/** A JSON object's fields, read but never written. */
export type Fields = Readonly<Record<string, unknown>>;

/** A JSON object: not null, not an array. */
export const isFields = (v: unknown): v is Fields =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a value is, for error messages: JSON's kinds, with null and arrays told apart. */
export function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
