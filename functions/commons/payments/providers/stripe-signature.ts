import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Stripe's webhook signature (https://docs.stripe.com/webhooks#verify-manually), checked with
 * node:crypto rather than the `stripe` package, which would weigh down the webhook's bundle
 * (bench/bundle-size.ts).
 * `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">[,v1=…]`;
 * other schemes (v0) are ignored. Any of the given secrets may match (rotation), and the
 * timestamp must be within `toleranceSeconds` of now either way, so a captured delivery
 * cannot be replayed later.
 */
export function stripeSignatureValid(
  body: Buffer,
  header: string | undefined,
  secrets: readonly string[],
  toleranceSeconds: number,
  nowMs: number = Date.now(),
): boolean {
  if (!header || body.length === 0) return false;
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const item of header.split(',')) {
    const at = item.indexOf('=');
    if (at < 0) continue;
    const key = item.slice(0, at).trim();
    const value = item.slice(at + 1).trim();
    if (key === 't' && /^\d{1,15}$/.test(value)) timestamp = Number(value);
    // A v1 signature is 64 hex digits; anything else cannot match and is skipped.
    if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || signatures.length === 0) return false;
  if (Math.abs(Math.floor(nowMs / 1000) - timestamp) > toleranceSeconds) return false;
  let matched = false;
  for (const secret of secrets) {
    if (secret === '') continue;
    const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
    // Every signature is compared (no early exit), each in constant time.
    for (const sig of signatures) if (timingSafeEqual(expected, sig)) matched = true;
  }
  return matched;
}
