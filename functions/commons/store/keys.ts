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
  /** A finished day's row: read by customer only, so no day index to write. */
  usageFinished: (customerId: string, day: string) => ({
    pk: `USAGE#${customerId}`,
    sk: `DAY#${day}`,
  }),
  /** One part of a day's figures (customers hashed into `USAGE_PARTS` parts). */
  usagePart: (day: string, part: number) => ({
    pk: `USAGEDAY#${day}`,
    sk: `${USAGE_PART_PREFIX}${String(part).padStart(2, '0')}`,
  }),
  /** The last day whose rows are finished (written per customer). */
  usageFinal: () => ({ pk: 'USAGEFINAL', sk: 'THROUGH' }),
  series: (series: SeriesName, day: string) => ({ pk: `SERIES#${series}`, sk: `DAY#${day}` }),
  poll: (fn: string, part: 'CURSOR' | 'HEALTH') => ({ pk: `POLL#${fn}`, sk: part }),
  silence: (id: string) => ({ pk: SILENCE_PK, sk: `SILENCE#${id}` }),
  alertDigest: (day: string) => ({ pk: 'ALERTDIGEST', sk: `DAY#${day}` }),
  /** A pool refill (the pool ledger), newest last. */
  poolRefill: (at: string, pool: string) => ({ pk: 'POOLREFILL', sk: `AT#${at}#${pool}` }),
  /**
   * One customer's balance; `CUSTBAL` lists every customer in id order on gsi2 (keys only:
   * the frequent rewrites copy nothing). Balances last written before gsi2 are on gsi1.
   */
  customerBalance: (customerId: string) => ({
    pk: `CUSTOMER#${customerId}`,
    sk: 'BALANCE',
    gsi2pk: 'CUSTBAL',
    gsi2sk: customerId.padStart(20, '0'),
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
export const USAGE_PART_PREFIX = 'PART#';

/**
 * Parts per day: about 40 bytes a customer, so 100,000 customers make parts of ~125 KB,
 * well under DynamoDB's 400 KB item limit.
 */
export const USAGE_PARTS = 32;

/** The part a customer's figures live in: FNV-1a of the id, so it never moves. */
export function usagePartOf(customerId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < customerId.length; i++) {
    h ^= customerId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % USAGE_PARTS;
}

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
