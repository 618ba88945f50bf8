import * as z from 'zod/mini';
import englishMessages from 'zod/v4/locales/en.js';
import { MalformedWebhookError } from '../errors.ts';
import type { Outcome, WebhookAnswer } from '../types.ts';
import { CURRENCY, PAYMENT_ID } from './fields.ts';

/** Payment ids become ledger keys: printable ASCII without spaces, bounded. */
export const paymentIdSchema = z.string().check(z.regex(PAYMENT_ID));

export const minorUnits = z.int().check(z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER));

export const currencySchema = z.string().check(z.regex(CURRENCY), z.toLowerCase());

/**
 * zod/mini (a fraction of the full build in the webhook bundle) carries no messages of its
 * own; the English ones make the logged cause say what was wrong, as the full build would.
 */
const { localeError } = englishMessages();

/** Parses with a schema; a mismatch is the sender's malformed event (400), never a crash. */
export function parseShape<T>(schema: z.ZodMiniType<T>, value: unknown): T {
  const res = schema.safeParse(value, { error: localeError });
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
  return { statusCode: outcome.statusCode, headers, body: answerBody(ok, outcome.result) };
}

/** Bodies by result, built once each: results are a handful of fixed words. */
const okBodies = new Map<string, string>();
const errorBodies = new Map<string, string>();

function answerBody(ok: boolean, result: string): string {
  const bodies = ok ? okBodies : errorBodies;
  let body = bodies.get(result);
  if (body === undefined) {
    body = JSON.stringify(ok ? { received: true, result } : { message: result });
    // Bounded all the same: anything beyond is built every time.
    if (bodies.size < 64) bodies.set(result, body);
  }
  return body;
}
