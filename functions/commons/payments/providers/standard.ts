import { canonicalCustomerId } from '../../customer-id.ts';
import { payerContact } from '../contact.ts';
import { MalformedWebhookError, WebhookSignatureError } from '../errors.ts';
import type { PaymentEvent, PaymentProvider, PaymentSucceeded, WebhookRequest } from '../types.ts';
import { jsonAnswer, parseJsonBody } from './common.ts';
import { FieldReader } from './fields.ts';
import { standardSignatureValid } from './standard-signature.ts';

/**
 * FlowPilot's own events for custom shops, signed per Standard Webhooks (headers
 * `webhook-id`, `webhook-timestamp`, `webhook-signature`; secrets `whsec_…`, several separated
 * by spaces or commas while a key is rotated). Amounts are integers in minor units.
 *
 *   { "type": "payment.succeeded", "timestamp": "2026-01-31T12:00:00Z",
 *     "data": { "paymentId": "ord_1001", "customerId": "88", "package": "gb100",
 *               "quantity": 2, "amount": 2000, "currency": "usd" } }
 *
 *   { "type": "payment.refunded", "timestamp": "2026-02-01T08:00:00Z",
 *     "data": { "paymentId": "ord_1001", "amountRefunded": 500, "currency": "usd" } }
 *
 * `quantity` is optional (default 1); so are `email` and `phone`, the payer's contact for
 * customer notices (kept after the credit; an unusable one is dropped, never refused). `amountRefunded` is the payment's cumulative refunded
 * total, so a redelivered or late event never deducts twice. Other `type`s are acknowledged
 * and ignored.
 */

const SUCCEEDED_FIELDS = new Set([
  'paymentId',
  'customerId',
  'package',
  'quantity',
  'amount',
  'currency',
  'email',
  'phone',
]);
const REFUNDED_FIELDS = new Set(['paymentId', 'amountRefunded', 'currency']);

/** Digits (text or a number); `089` and `89` are one customer, kept as `89`. */
function customerIdOf(d: FieldReader): string {
  const id = canonicalCustomerId(d.fields.customerId);
  if (id !== undefined) return id;
  throw new MalformedWebhookError('malformed event', {
    cause: new Error('event.data.customerId: not a customer id'),
  });
}

function succeeded(d: FieldReader): PaymentSucceeded {
  d.only(SUCCEEDED_FIELDS);
  const quantity = d.optionalWholeNumber('quantity', 1);
  return {
    type: 'payment-succeeded',
    paymentId: d.paymentId('paymentId'),
    customerId: customerIdOf(d),
    packageId: d.text('package', 1, 64),
    ...(quantity === undefined ? {} : { quantity }),
    amountMinor: d.count('amount'),
    currency: d.currency('currency'),
    // Read leniently: a contact never makes a payment malformed.
    ...payerContact({ email: d.fields.email, phone: d.fields.phone }),
  };
}

function refunded(d: FieldReader): PaymentEvent {
  d.only(REFUNDED_FIELDS);
  const amountRefunded = d.count('amountRefunded');
  return {
    type: 'refund',
    ref: { paymentId: d.paymentId('paymentId') },
    partId: `refund:${amountRefunded}`,
    refundedMinor: amountRefunded,
    currency: d.currency('currency'),
  };
}

function verify(req: WebhookRequest, secrets: readonly string[]): void {
  if (!standardSignatureValid(req.body, req.headers, secrets)) throw new WebhookSignatureError();
}

export const standardProvider: PaymentProvider = {
  id: 'standard',
  secretName: 'STANDARD_WEBHOOK_SECRET',
  acceptsContentType: (mediaType) => mediaType === 'application/json',
  parse(req, ctx): PaymentEvent {
    verify(req, ctx.secrets);
    const event = FieldReader.of(parseJsonBody(req.body), 'event');
    const type = event.text('type', 1, Number.MAX_SAFE_INTEGER);
    switch (type) {
      case 'payment.succeeded':
        return succeeded(event.object('data'));
      case 'payment.refunded':
        return refunded(event.object('data'));
      default:
        return { type: 'ignored', reason: `event type ${type.slice(0, 64)}` };
    }
  },
  answer: jsonAnswer,
};
