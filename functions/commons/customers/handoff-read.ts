import * as z from 'zod/mini';
import {
  BALANCE_CHANGES_VERSION,
  type BalanceChangesMessage,
  BalanceChangesMessageError,
} from './handoff.ts';

/**
 * The reading side of handoff.ts, for customer-actions alone (the poll only writes messages,
 * and so carries no schema).
 */

const DECIMAL = /^-?\d+(\.\d+)?$/;
const decimal = z.string().check(z.regex(DECIMAL));
const isoTime = z.iso.datetime({ offset: true });

const balance = z.object({
  customerId: z.string().check(z.regex(/^[1-9]\d*$/)),
  account: z.optional(z.string()),
  balanceMb: decimal,
  burn1dMb: z.nullable(decimal),
  burn7dMb: z.nullable(decimal),
  daysLeft: z.nullable(z.number()),
  lastCreditMb: z.nullable(decimal),
  lastCreditAt: z.nullable(isoTime),
  asOf: isoTime,
});

const change = z.object({
  before: z.optional(balance),
  after: balance,
  credits: z.array(
    z.object({ mb: decimal, at: isoTime, orderId: z.optional(z.string().check(z.minLength(1))) }),
  ),
});

const message = z.object({
  version: z.literal(BALANCE_CHANGES_VERSION),
  at: isoTime,
  part: z.int().check(z.minimum(1)),
  parts: z.int().check(z.minimum(1)),
  changes: z.array(change),
});

/** Reads one message body; anything else is a BalanceChangesMessageError naming what is wrong. */
export function parseBalanceChangesMessage(body: string): BalanceChangesMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    throw new BalanceChangesMessageError('the message is not JSON', { cause: err });
  }
  const parsed = message.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`);
    throw new BalanceChangesMessageError(`not a balance-changes message: ${issues.join('; ')}`);
  }
  // JSON drops `before: undefined` (a customer seen for the first time); the contract keeps it.
  const changes = parsed.data.changes.map((c) => ({ ...c, before: c.before }));
  return { ...parsed.data, version: BALANCE_CHANGES_VERSION, changes };
}
