import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../../errors.ts';
import { Decimal } from '../../units.ts';
import { MalformedWebhookError, WebhookSignatureError } from '../errors.ts';
import type { Outcome, PaymentEvent, PaymentProvider, WebhookAnswer } from '../types.ts';
import { PAYMENT_ID } from './fields.ts';

/**
 * 彩虹易支付 (epay) asynchronous notifications. It notifies by HTTP GET with the parameters in
 * the query string (some deployments POST them as a form body,
 * `application/x-www-form-urlencoded`); both are taken: `pid` (required to match
 * `payments.epay.pid`),
 * `trade_no`, `out_trade_no` (the shop's order number: our payment id), `type`, `name`,
 * `money` (decimal yuan), `trade_status`, `param`, `sign`, `sign_type` (MD5).
 *
 * `sign` = lower-case hex MD5 of the non-empty parameters other than `sign` and `sign_type`,
 * sorted by name and joined as `k=v&k=v`, followed directly by the merchant key.
 *
 * The shop puts the order in `param` as `customerId:package[:quantity]`, e.g. `88:gb100:2`.
 * Only `trade_status=TRADE_SUCCESS` credits; epay wants the plain text `success` back and
 * retries anything else. epay sends no refund notifications.
 */

const MONEY = /^\d{1,12}(\.\d{1,2})?$/;
const SIGN = /^[0-9a-f]{32}$/i;

function readParams(body: Buffer, rawQuery: string): Map<string, string> {
  const source = body.length > 0 ? body.toString('utf8') : rawQuery;
  const params = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(source)) {
    if (params.has(k)) throw new MalformedWebhookError('duplicate parameter');
    params.set(k, v);
  }
  return params;
}

export function epaySign(params: Map<string, string>, key: string): string {
  const text = [...params]
    .filter(([k, v]) => k !== 'sign' && k !== 'sign_type' && v !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  return createHash('md5')
    .update(text + key, 'utf8')
    .digest('hex');
}

function verify(params: Map<string, string>, keys: readonly string[]): void {
  const given = params.get('sign') ?? '';
  const signType = params.get('sign_type');
  if (!SIGN.test(given) || (signType !== undefined && signType.toUpperCase() !== 'MD5')) {
    throw new WebhookSignatureError();
  }
  const givenBytes = Buffer.from(given.toLowerCase(), 'utf8');
  let match = false;
  for (const key of keys) {
    // Both sides are 32 hex characters, so the lengths always agree.
    if (timingSafeEqual(Buffer.from(epaySign(params, key), 'utf8'), givenBytes)) match = true;
  }
  if (!match) throw new WebhookSignatureError();
}

function answer(outcome: Outcome): WebhookAnswer {
  const ok = outcome.statusCode >= 200 && outcome.statusCode < 300;
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  if (outcome.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(outcome.retryAfterSeconds);
  }
  return { statusCode: outcome.statusCode, headers, body: ok ? 'success' : 'fail' };
}

export const epayProvider: PaymentProvider = {
  id: 'epay',
  secretName: 'EPAY_KEY',
  notifiesByGet: true,
  acceptsContentType: (mediaType, req) =>
    req.body.length === 0 || mediaType === 'application/x-www-form-urlencoded',
  parse(req, ctx): PaymentEvent {
    const params = readParams(req.body, req.rawQuery);
    verify(params, ctx.secrets);
    const pid = ctx.config.epay.pid;
    // Ours to fix, not the sender's: a 500, so epay keeps retrying until it is set.
    if (pid === undefined) {
      throw new ConfigError('payments.epay.pid must be set when epay is enabled (EPAY_KEY set)');
    }
    if (params.get('pid') !== pid) {
      throw new MalformedWebhookError('unknown merchant');
    }
    const status = params.get('trade_status');
    if (status !== 'TRADE_SUCCESS') return { type: 'ignored', reason: `trade_status ${status}` };
    const paymentId = params.get('out_trade_no') ?? '';
    const money = params.get('money') ?? '';
    if (!PAYMENT_ID.test(paymentId) || !MONEY.test(money)) throw new MalformedWebhookError();
    const [customerId, packageId, quantity, ...rest] = (params.get('param') ?? '').split(':');
    const order = rest.length === 0 ? { customerId, packageId, quantity } : {};
    return {
      type: 'payment-succeeded',
      paymentId,
      ...(order.customerId ? { customerId: order.customerId } : {}),
      ...(order.packageId ? { packageId: order.packageId } : {}),
      ...(order.quantity !== undefined ? { quantity: order.quantity } : {}),
      amountMinor: new Decimal(money).mul(100).toNumber(),
      currency: ctx.config.epay.currency,
    };
  },
  answer,
};
