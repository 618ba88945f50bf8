import { z } from 'zod';
import { MalformedWebhookError } from '../errors.ts';
import type { Outcome, WebhookAnswer } from '../types.ts';

/** Payment ids become ledger keys: printable ASCII without spaces, bounded. */
export const paymentIdSchema = z.string().regex(/^[\x21-\x7e]{1,200}$/);

export const minorUnits = z.int().min(0).max(Number.MAX_SAFE_INTEGER);

export const currencySchema = z
  .string()
  .regex(/^[A-Za-z]{3}$/)
  .transform((c) => c.toLowerCase());

/** Parses with a schema; a mismatch is the sender's malformed event (400), never a crash. */
export function parseShape<T>(schema: z.ZodType<T>, value: unknown): T {
  const res = schema.safeParse(value);
  if (!res.success) throw new MalformedWebhookError('malformed event', { cause: res.error });
  return res.data;
}

export function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new MalformedWebhookError('malformed JSON', { cause });
  }
}

/** Stripe and standard webhooks: JSON both ways; a Retry-After when the sender should wait. */
export function jsonAnswer(outcome: Outcome): WebhookAnswer {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (outcome.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(outcome.retryAfterSeconds);
  }
  const ok = outcome.statusCode >= 200 && outcome.statusCode < 300;
  const body = ok ? { received: true, result: outcome.result } : { message: outcome.result };
  return { statusCode: outcome.statusCode, headers, body: JSON.stringify(body) };
}
