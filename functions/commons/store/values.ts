import type { Decimal } from '../units.ts';

/**
 * Where a capability's items sit in the one table: the pk prefix and the sk prefix (or
 * fixed sk) each store module writes, on the table or on gsi1. Every store module exports
 * its own as `KEY_PREFIXES`; test/unit/key-prefixes.test.ts checks that no two overlap.
 */
export interface KeyPrefix {
  index?: 'gsi1' | 'gsi2';
  pk: string;
  /** '' when the sort key is free-form (a time, an id). */
  sk: string;
}

/**
 * Decimals are stored as plain decimal strings: exact, no exponent, no trailing zeros, so two
 * equal values always compare equal as text (the change detection relies on it).
 */
export function decimalText(value: Decimal): string {
  return value.toFixed();
}

const DAY_SECONDS = 86_400;

/** TTL (epoch seconds) for something dated `from` that is kept `retentionDays` days. */
export function expiresAt(from: Date, retentionDays: number): number {
  return Math.floor(from.getTime() / 1000) + retentionDays * DAY_SECONDS;
}

/** TTL for a calendar day's item: counted from the day itself, not from when it was written. */
export function dayExpiresAt(day: string, retentionDays: number): number {
  return expiresAt(new Date(`${day}T00:00:00Z`), retentionDays + 1);
}
