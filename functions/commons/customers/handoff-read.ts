import { type Fields, isFields, jsonKind } from '../json-values.ts';
import {
  BALANCE_CHANGES_VERSION,
  type BalanceChangesMessage,
  BalanceChangesMessageError,
} from './handoff.ts';
import type { BalanceChange, CustomerBalance, CustomerCredit } from './types.ts';

/**
 * The reading side of handoff.ts, for customer-actions alone (the poll only writes messages,
 * and so carries no schema). Typed reads rather than a schema library: zod/mini was 22 KB of
 * customer-actions' bundle, compiled and evaluated at every cold start for one message shape.
 */

const DECIMAL = /^-?\d+(\.\d+)?$/;
const CUSTOMER_ID = /^[1-9]\d*$/;
const NON_EMPTY = /^[\s\S]/;
/** RFC 3339 with seconds and a `Z` or numeric offset; the calendar date is checked apart. */
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

function wrong(path: string, expected: string, value: unknown): never {
  throw new BalanceChangesMessageError(
    `not a balance-changes message: ${path}: expected ${expected}, received ${jsonKind(value)}`,
  );
}

function object(value: unknown, path: string): Fields {
  return isFields(value) ? value : wrong(path, 'object', value);
}

function array(value: unknown, path: string): readonly unknown[] {
  return Array.isArray(value) ? value : wrong(path, 'array', value);
}

function text(value: unknown, path: string, pattern?: RegExp, what = 'string'): string {
  return typeof value === 'string' && (pattern === undefined || pattern.test(value))
    ? value
    : wrong(path, what, value);
}

const decimal = (value: unknown, path: string) => text(value, path, DECIMAL, 'decimal text');

function isoTime(value: unknown, path: string): string {
  const m = typeof value === 'string' ? ISO_TIME.exec(value) : null;
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    // Day and month exist in that year's calendar (no 30 February).
    const day = new Date(Date.UTC(y, mo - 1, d));
    if (day.getUTCMonth() === mo - 1 && day.getUTCDate() === d) return value as string;
  }
  return wrong(path, 'ISO 8601 date-time with offset', value);
}

/** null stays null; anything else is read by `read`. */
function nullable<T>(read: (v: unknown, path: string) => T, value: unknown, path: string) {
  return value === null ? null : read(value, path);
}

function count(value: unknown, path: string): number {
  return Number.isSafeInteger(value) && (value as number) >= 1
    ? (value as number)
    : wrong(path, 'integer from 1', value);
}

function balance(value: unknown, path: string): CustomerBalance {
  const f = object(value, path);
  const daysLeft = f.daysLeft;
  const out: CustomerBalance = {
    customerId: text(f.customerId, `${path}.customerId`, CUSTOMER_ID, 'customer id'),
    balanceMb: decimal(f.balanceMb, `${path}.balanceMb`),
    burn1dMb: nullable(decimal, f.burn1dMb, `${path}.burn1dMb`),
    burn7dMb: nullable(decimal, f.burn7dMb, `${path}.burn7dMb`),
    daysLeft:
      daysLeft === null || (typeof daysLeft === 'number' && Number.isFinite(daysLeft))
        ? daysLeft
        : wrong(`${path}.daysLeft`, 'number or null', daysLeft),
    lastCreditMb: nullable(decimal, f.lastCreditMb, `${path}.lastCreditMb`),
    lastCreditAt: nullable(isoTime, f.lastCreditAt, `${path}.lastCreditAt`),
    asOf: isoTime(f.asOf, `${path}.asOf`),
  };
  if (f.account !== undefined) out.account = text(f.account, `${path}.account`);
  if (f.recentCredits !== undefined) {
    out.recentCredits = array(f.recentCredits, `${path}.recentCredits`).map((c, i) => {
      const r = object(c, `${path}.recentCredits.${i}`);
      return {
        at: isoTime(r.at, `${path}.recentCredits.${i}.at`),
        mb: decimal(r.mb, `${path}.recentCredits.${i}.mb`),
      };
    });
  }
  return out;
}

function credit(value: unknown, path: string): CustomerCredit {
  const f = object(value, path);
  const out: CustomerCredit = {
    mb: decimal(f.mb, `${path}.mb`),
    at: isoTime(f.at, `${path}.at`),
  };
  if (f.orderId !== undefined) {
    out.orderId = text(f.orderId, `${path}.orderId`, NON_EMPTY, 'non-empty string');
  }
  return out;
}

function change(value: unknown, path: string): BalanceChange {
  const f = object(value, path);
  return {
    // JSON drops `before: undefined` (a customer seen for the first time); the contract keeps it.
    before: f.before === undefined ? undefined : balance(f.before, `${path}.before`),
    after: balance(f.after, `${path}.after`),
    credits: array(f.credits, `${path}.credits`).map((c, i) => credit(c, `${path}.credits.${i}`)),
  };
}

/** Reads one message body; anything else is a BalanceChangesMessageError naming what is wrong. */
export function parseBalanceChangesMessage(body: string): BalanceChangesMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    throw new BalanceChangesMessageError('the message is not JSON', { cause: err });
  }
  const f = object(raw, '(message)');
  if (f.version !== BALANCE_CHANGES_VERSION) {
    throw new BalanceChangesMessageError(
      `not a balance-changes message: version: expected ${BALANCE_CHANGES_VERSION}, received ${JSON.stringify(f.version) ?? 'nothing'}`,
    );
  }
  return {
    version: BALANCE_CHANGES_VERSION,
    at: isoTime(f.at, 'at'),
    part: count(f.part, 'part'),
    parts: count(f.parts, 'parts'),
    changes: array(f.changes, 'changes').map((c, i) => change(c, `changes.${i}`)),
  };
}
