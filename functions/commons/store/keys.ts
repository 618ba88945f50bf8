import type { Decimal } from '../units.ts';

/**
 * Key shapes of the entities this store owns (README "Data model"). Every key is built here,
 * so the prefixes cannot drift between writers and readers.
 */
export const keys = {
  snapshot: (pool: string, at: string) => ({ pk: `POOL#${pool}`, sk: `SNAP#${at}` }),
  usage: (customerId: string, day: string) => ({
    pk: `USAGE#${customerId}`,
    sk: `DAY#${day}`,
    gsi1pk: `USAGEDAY#${day}`,
    gsi1sk: `CUST#${customerId}`,
  }),
  series: (series: SeriesName, day: string) => ({ pk: `SERIES#${series}`, sk: `DAY#${day}` }),
  poll: (fn: string, part: 'CURSOR' | 'HEALTH') => ({ pk: `POLL#${fn}`, sk: part }),
  silence: (id: string) => ({ pk: SILENCE_PK, sk: `SILENCE#${id}` }),
  alertDigest: (day: string) => ({ pk: 'ALERTDIGEST', sk: `DAY#${day}` }),
  /** A pool refill (the pool ledger), newest last. */
  poolRefill: (at: string, pool: string) => ({ pk: 'POOLREFILL', sk: `AT#${at}#${pool}` }),
  /** One customer's balance; `CUSTBAL` lists every customer in id order. */
  customerBalance: (customerId: string) => ({
    pk: `CUSTOMER#${customerId}`,
    sk: 'BALANCE',
    gsi1pk: 'CUSTBAL',
    gsi1sk: customerId.padStart(20, '0'),
  }),
  /** One upstream record (myRechargeFlowList), beside the balance; by day on gsi1. */
  customerRecord: (customerId: string, recordKey: string, day: string) => ({
    pk: `CUSTOMER#${customerId}`,
    sk: `${CUSTOMER_RECORD_PREFIX}${recordKey}`,
    gsi1pk: `CUSTRECDAY#${day}`,
    gsi1sk: `${customerId}#${recordKey}`,
  }),
} as const;

export const CUSTOMER_RECORD_PREFIX = 'REC#';

export type SeriesName = 'consume' | 'nni';

export const SILENCE_PK = 'SILENCES';
export const SNAP_PREFIX = 'SNAP#';
export const DAY_PREFIX = 'DAY#';

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
