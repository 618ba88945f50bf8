import type { PaymentsConfig } from '../config/payments.ts';
import type { OpsEventSink } from '../ops-events.ts';
import type { SecretName } from '../secrets.ts';
import type { DynamicTrafficApi } from '../upstream/types.ts';
import type { Ledger } from './ledger/ledger.ts';

export type ProviderId = 'stripe' | 'standard' | 'epay';

/** A webhook as it arrived: header names lower case, the body byte for byte. */
export interface WebhookRequest {
  /** `POST`, or `GET` for a provider that notifies by GET (epay). @default 'POST' */
  method?: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The query string without `?`, as sent. */
  rawQuery: string;
}

/** A paid order. Stripe: the Checkout Session; standard and epay: the shop's payment. */
export interface PaymentSucceeded {
  type: 'payment-succeeded';
  paymentId: string;
  customerId?: string;
  packageId?: string;
  /** As the provider sent it (number or text); checked against the catalog rules. */
  quantity?: unknown;
  /** Amount charged in the currency's minor units (after discounts, with tax). */
  amountMinor: number;
  /**
   * Amount before discounts and taxes (Stripe `amount_subtotal`), matched to the catalog;
   * absent: `amountMinor` is. Its presence also lets the quantity come from it.
   */
  subtotalMinor?: number;
  taxMinor?: number;
  discountMinor?: number;
  /** Nothing was charged (Stripe `payment_status: no_payment_required`, a 100 % discount). */
  noPaymentRequired?: boolean;
  /** ISO 4217, lower case. */
  currency: string;
  /** Stripe only: refunds and disputes name the PaymentIntent, not the session. */
  paymentIntentId?: string;
  /**
   * Auto top-up only: what FlowPilot charged for (the PaymentIntent's amount and currency, the
   * GB in the metadata it set), matched instead of the catalog, whose price may have changed
   * before a late webhook (a retry, a 3-D Secure completion).
   */
  charged?: { amountMinor: number; currency: string; gb: string };
  /** The payer's contact as the provider sent it (unchecked); kept after a credit. */
  contact?: PayerContact;
  /**
   * Why its refunds could never be matched to the order (Stripe: a subscription- or
   * setup-mode session, or a charge without a PaymentIntent): it is refused, never credited.
   */
  noRefundPath?: string;
}

/** Email and phone only: a payer's name is never kept (it would reach customer notices). */
export interface PayerContact {
  email?: string;
  phone?: string;
}

export interface PaymentFailed {
  type: 'payment-failed';
  paymentId: string;
}

export type PaymentRef = { paymentId: string } | { paymentIntentId: string };

/** Money returned to the payer; `refundedMinor` is the cumulative total refunded so far. */
export interface RefundEvent {
  type: 'refund';
  ref: PaymentRef;
  partId: string;
  refundedMinor: number;
  currency: string;
  /** Epoch seconds the provider created the event (Stripe `created`), when it says. */
  eventCreated?: number;
}

/** Money taken back by a dispute (chargeback); `amountMinor` is this dispute's amount. */
export interface DisputeEvent {
  type: 'dispute';
  ref: PaymentRef;
  partId: string;
  amountMinor: number;
  currency: string;
}

/**
 * Money that came back to the shop after a deduction: a dispute closed with funds reinstated
 * (`disputePartId` names the dispute's part, `amountMinor` is what Stripe returned) or a
 * refund that failed (`amountMinor` of it).
 */
export interface ReversalEvent {
  type: 'reversal';
  kind: 'dispute-won' | 'refund-failed';
  ref: PaymentRef;
  /** The reversal's own part id. */
  partId: string;
  /** dispute-won: the dispute's part id. */
  disputePartId?: string;
  /** refund-failed: the amount not refunded after all; dispute-won: the amount reinstated. */
  amountMinor: number;
  /** dispute-won: the dispute was lost (Stripe reinstates only a refunded part): no GB back. */
  disputeLost?: boolean;
  /** refund-failed: epoch seconds the failed refund itself was created, when it says. */
  refundCreated?: number;
  /**
   * refund-failed read from a newer, lower refunded total (no failure event yet): the total
   * and when it was created; the give-back is worked out from it against the order as read.
   */
  lowered?: { totalMinor: number; at: number };
  currency: string;
  eventCreated?: number;
}

export interface IgnoredEvent {
  type: 'ignored';
  reason: string;
  /** The answer's `result` for the function's hooks, when not plain `ignored`. */
  result?: 'card-saved';
}

export type PaymentEvent =
  | PaymentSucceeded
  | PaymentFailed
  | RefundEvent
  | DisputeEvent
  | ReversalEvent
  | IgnoredEvent;

/** What the domain decided, before a provider renders it. */
export interface Outcome {
  statusCode: number;
  /** `credited`, `already-credited`, `rejected`, `held`, `in-progress`, `deducted`, … */
  result: string;
  retryAfterSeconds?: number;
}

export interface WebhookAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  /** A handled delivery's result, for the function's own hooks (never sent). */
  result?: string;
}

export interface VerifyContext {
  /** Every configured secret for the provider (several during a rotation). */
  secrets: readonly string[];
  config: PaymentsConfig;
}

/** One module per payment provider: verify the raw request, normalise its event. */
export interface PaymentProvider {
  readonly id: ProviderId;
  readonly secretName: SecretName;
  /** It notifies by GET with the parameters in the query string (彩虹易支付 does). */
  readonly notifiesByGet?: true;
  /** Whether the request's media type (lower case, no parameters) can carry an event. */
  acceptsContentType(mediaType: string | undefined, req: WebhookRequest): boolean;
  /** Throws WebhookSignatureError (401) or MalformedWebhookError (400); changes nothing. */
  parse(req: WebhookRequest, ctx: VerifyContext): PaymentEvent;
  /** Renders an outcome the way the provider expects it (epay wants plain `success`). */
  answer(outcome: Outcome): WebhookAnswer;
}

/** Everything the payments domain talks to, handed in so tests can give it local services. */
export interface PaymentDeps {
  ledger: Ledger;
  upstream: Pick<DynamicTrafficApi, 'rechargeTrafficCount' | 'deductionFlow'>;
  sink: OpsEventSink;
  clock: () => Date;
  config: PaymentsConfig;
  getSecret: (name: SecretName) => Promise<string | undefined>;
  /** Identifies one delivery's lease. @default crypto.randomUUID */
  newLeaseOwner?: () => string;
  /**
   * Keeps a credited payer's contact for customer notices (contact.ts), under the order key
   * that the ledger gives the payment (its receipt's credit carries the same).
   */
  saveContact?: (
    customerId: string,
    contact: PayerContact,
    at: Date,
    order: string,
  ) => Promise<unknown>;
}
