import { MalformedWebhookError } from '../errors.ts';
import type { Outcome, WebhookAnswer } from '../types.ts';

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
