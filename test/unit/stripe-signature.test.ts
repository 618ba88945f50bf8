import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { paymentsSchema } from '../../functions/commons/config/payments.ts';
import {
  MalformedWebhookError,
  WebhookSignatureError,
} from '../../functions/commons/payments/errors.ts';
import { stripeProvider } from '../../functions/commons/payments/providers/stripe.ts';
import { stripeSignatureValid } from '../../functions/commons/payments/providers/stripe-signature.ts';

/** Signatures are made by Stripe's own library; FlowPilot's code only verifies them. */
const NEW = 'whsec_signature_test_new_0001';
const OLD = 'whsec_signature_test_old_0002';
const TOLERANCE = 300;
const body = JSON.stringify({
  id: 'evt_1',
  type: 'x.y',
  created: 1,
  livemode: false,
  data: { object: {} },
});
const bytes = Buffer.from(body);
const now = Date.now();
const nowSec = Math.floor(now / 1000);

const sign = (opts: { payload?: string; secret?: string; timestamp?: number; scheme?: string }) =>
  Stripe.webhooks.generateTestHeaderString({
    payload: opts.payload ?? body,
    secret: opts.secret ?? NEW,
    timestamp: opts.timestamp ?? nowSec,
    ...(opts.scheme ? { scheme: opts.scheme } : {}),
  });
const v1Of = (header: string) => header.split(',v1=')[1] ?? '';
const valid = (header: string | undefined, secrets = [NEW], payload = bytes) =>
  stripeSignatureValid(payload, header, secrets, TOLERANCE, now);

describe('Stripe webhook signature (node:crypto against the stripe library)', () => {
  it('accepts what Stripe signed with the secret', () => {
    expect(valid(sign({}))).toBe(true);
  });

  it('refuses another secret, a tampered body and an empty body', () => {
    expect(valid(sign({ secret: 'whsec_someone_else_entirely' }))).toBe(false);
    expect(valid(sign({}), [NEW], Buffer.from(body.replace('evt_1', 'evt_2')))).toBe(false);
    expect(valid(sign({ payload: '' }), [NEW], Buffer.alloc(0))).toBe(false);
  });

  it('accepts either secret during a rotation, and only those', () => {
    expect(valid(sign({ secret: OLD }), [NEW, OLD])).toBe(true);
    expect(valid(sign({ secret: NEW }), [NEW, OLD])).toBe(true);
    expect(valid(sign({ secret: OLD }), [NEW])).toBe(false);
  });

  it('takes a timestamp within the tolerance either way and refuses one outside it', () => {
    expect(valid(sign({ timestamp: nowSec - TOLERANCE }))).toBe(true);
    expect(valid(sign({ timestamp: nowSec - TOLERANCE - 1 }))).toBe(false);
    expect(valid(sign({ timestamp: nowSec + TOLERANCE + 1 }))).toBe(false);
    // The library refuses the same old delivery.
    expect(() =>
      Stripe.webhooks.constructEvent(body, sign({ timestamp: nowSec - 301 }), NEW, TOLERANCE),
    ).toThrow(/tolerance/);
  });

  it('matches any v1 signature of several and ignores other schemes', () => {
    const good = sign({});
    const other = v1Of(sign({ secret: 'whsec_someone_else_entirely' }));
    expect(valid(`t=${nowSec},v1=${other},v1=${v1Of(good)}`)).toBe(true);
    expect(valid(`t=${nowSec},v1=${other}`)).toBe(false);
    const v0 = sign({ scheme: 'v0' });
    expect(v0).toMatch(/,v0=/);
    expect(valid(v0)).toBe(false);
    expect(valid(`${v0},v1=${v1Of(good)}`)).toBe(true);
  });

  it('refuses malformed headers without throwing', () => {
    const sig = v1Of(sign({}));
    for (const header of [
      undefined,
      '',
      'garbage',
      `v1=${sig}`,
      `t=,v1=${sig}`,
      `t=abc,v1=${sig}`,
      `t=${nowSec}`,
      `t=${nowSec},v1=`,
      `t=${nowSec},v1=${sig.slice(0, 10)}`,
      `t=${nowSec},v1=${'z'.repeat(64)}`,
      `t=${nowSec},v1=${sig.toUpperCase()}`,
    ]) {
      expect(valid(header), String(header)).toBe(false);
    }
  });
});

describe('Provider: stripe refuses what does not verify', () => {
  const config = paymentsSchema.parse({ stripe: { livemode: false } });
  const ctx = { secrets: [NEW, OLD], config };
  const request = (payload: string, signature: string) => ({
    headers: { 'stripe-signature': signature },
    body: Buffer.from(payload),
    rawQuery: '',
  });

  it('answers 401 for a stale, a foreign and a missing signature', () => {
    const stale = request(body, sign({ timestamp: nowSec - 3600 }));
    expect(() => stripeProvider.parse(stale, ctx)).toThrow(WebhookSignatureError);
    const foreign = request(body, sign({ secret: 'whsec_someone_else_entirely' }));
    expect(() => stripeProvider.parse(foreign, ctx)).toThrow(WebhookSignatureError);
    expect(() =>
      stripeProvider.parse({ headers: {}, body: Buffer.from(body), rawQuery: '' }, ctx),
    ).toThrow(WebhookSignatureError);
  });

  it('answers 400 malformed JSON for a signed body that is not JSON', () => {
    const notJson = request('{not json', sign({ payload: '{not json', secret: OLD }));
    expect(() => stripeProvider.parse(notJson, ctx)).toThrow(MalformedWebhookError);
    expect(() => stripeProvider.parse(notJson, ctx)).toThrow('malformed JSON');
  });

  it('reads a delivery signed by the previous secret', () => {
    expect(stripeProvider.parse(request(body, sign({ secret: OLD })), ctx)).toEqual({
      type: 'ignored',
      reason: 'event type x.y',
    });
  });
});
