import { createHash, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { Decimal } from '../functions/commons/units.ts';

/**
 * Signed deliveries as the Standard Webhooks and epay senders make them: what
 * `npm run demo:payment -- --provider standard|epay` and the end-to-end tests deliver.
 * Stripe's is in stripe-checkout.ts.
 */

export interface SignedRequest {
  /** Appended to `/webhooks/<provider>`. */
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A `payment.succeeded` event, signed with a Standard Webhooks secret (`whsec_<base64>`). */
export function signedStandardPayment(input: {
  secret: string;
  paymentId: string;
  customerId: string;
  packageId: string;
  quantity: number;
  amountMinor: number;
  currency: string;
}): SignedRequest {
  const at = new Date();
  const id = `msg_${randomBytes(8).toString('hex')}`;
  const body = JSON.stringify({
    type: 'payment.succeeded',
    timestamp: at.toISOString(),
    data: {
      paymentId: input.paymentId,
      customerId: input.customerId,
      package: input.packageId,
      quantity: input.quantity,
      amount: input.amountMinor,
      currency: input.currency,
    },
  });
  return {
    path: '/webhooks/standard',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(input.secret).sign(id, at, body),
    },
    body,
  };
}

/** An epay (彩虹易支付) TRADE_SUCCESS notification as a form post, MD5-signed with the key. */
export function signedEpayPayment(input: {
  key: string;
  pid: string;
  paymentId: string;
  customerId: string;
  packageId: string;
  quantity: number;
  /** In fen; epay's `money` is yuan. */
  amountMinor: number;
}): SignedRequest {
  const fields: Record<string, string> = {
    pid: input.pid,
    trade_no: `epay${randomBytes(6).toString('hex')}`,
    out_trade_no: input.paymentId,
    type: 'alipay',
    name: input.packageId,
    money: new Decimal(input.amountMinor).div(100).toFixed(2),
    trade_status: 'TRADE_SUCCESS',
    param: `${input.customerId}:${input.packageId}:${input.quantity}`,
  };
  const text = Object.entries(fields)
    .filter(([, v]) => v !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const sign = createHash('md5')
    .update(text + input.key, 'utf8')
    .digest('hex');
  return {
    path: '/webhooks/epay',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...fields, sign, sign_type: 'MD5' }).toString(),
  };
}
