import * as z from 'zod/mini';
import { canonicalCustomerId } from '../../customer-id.ts';
import { payerContact } from '../contact.ts';
import { WebhookSignatureError } from '../errors.ts';
import type { PaymentEvent, PaymentProvider, WebhookRequest } from '../types.ts';
import {
  currencySchema,
  jsonAnswer,
  minorUnits,
  parseJsonBody,
  parseShape,
  paymentIdSchema,
} from './common.ts';
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

/** Digits (text or a number); `089` and `89` are one customer, kept as `89`. */
const customerId = z.pipe(
  z.union([z.string(), z.int()]),
  z.transform((v: string | number, ctx) => {
    const id = canonicalCustomerId(v);
    if (id !== undefined) return id;
    ctx.issues.push({ code: 'custom', message: 'not a customer id', input: v });
    return z.NEVER;
  }),
);

const envelope = z.object({ type: z.string().check(z.minLength(1)), data: z.unknown() });

const succeeded = z.strictObject({
  paymentId: paymentIdSchema,
  customerId,
  package: z.string().check(z.minLength(1), z.maxLength(64)),
  quantity: z.optional(z.int().check(z.minimum(1), z.maximum(Number.MAX_SAFE_INTEGER))),
  amount: minorUnits,
  currency: currencySchema,
  // Read leniently: a contact never makes a payment malformed.
  email: z.optional(z.unknown()),
  phone: z.optional(z.unknown()),
});

const refunded = z.strictObject({
  paymentId: paymentIdSchema,
  amountRefunded: minorUnits,
  currency: currencySchema,
});

function verify(req: WebhookRequest, secrets: readonly string[]): void {
  if (!standardSignatureValid(req.body, req.headers, secrets)) throw new WebhookSignatureError();
}

export const standardProvider: PaymentProvider = {
  id: 'standard',
  secretName: 'STANDARD_WEBHOOK_SECRET',
  acceptsContentType: (mediaType) => mediaType === 'application/json',
  parse(req, ctx): PaymentEvent {
    verify(req, ctx.secrets);
    const event = parseShape(envelope, parseJsonBody(req.body));
    switch (event.type) {
      case 'payment.succeeded': {
        const d = parseShape(succeeded, event.data);
        return {
          type: 'payment-succeeded',
          paymentId: d.paymentId,
          customerId: d.customerId,
          packageId: d.package,
          ...(d.quantity === undefined ? {} : { quantity: d.quantity }),
          amountMinor: d.amount,
          currency: d.currency,
          ...payerContact(d),
        };
      }
      case 'payment.refunded': {
        const d = parseShape(refunded, event.data);
        return {
          type: 'refund',
          ref: { paymentId: d.paymentId },
          partId: `refund:${d.amountRefunded}`,
          refundedMinor: d.amountRefunded,
          currency: d.currency,
        };
      }
      default:
        return { type: 'ignored', reason: `event type ${event.type.slice(0, 64)}` };
    }
  },
  answer: jsonAnswer,
};
