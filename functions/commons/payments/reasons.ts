/**
 * Why the payments capability refused, held or set aside something: the codes stored on
 * orders and parts and named in alerts. A leaf module, so the ledger can type its items with
 * them without importing the domain code.
 */

/** A paid order the catalog refuses: recorded REJECTED, alerted. */
export type RejectReason =
  | 'unknown-package'
  | 'amount-mismatch'
  | 'invalid-quantity'
  | 'invalid-customer'
  | 'no-refund-path';

/** A paid order kept for an operator's review: recorded HELD, alerted. */
export type HoldReason = 'order-max' | 'no-payment-required' | 'monthly-cap';

/** Why an order ended without (or before) its credit. */
export type OrderReason =
  | RejectReason
  | HoldReason
  /** Refunded in full before it was known: nothing owed. */
  | 'refunded'
  /** Its PaymentIntent was credited through another order. */
  | 'duplicate-payment-intent'
  | 'upstream-rejected'
  | 'not-channel-customer';

/** Why a refund, dispute or reversal part took nothing, or was left to a person. */
export type PartReason =
  /** Taken off the credit before it was made, or recorded on an order never credited. */
  | 'before-credit'
  | 'not-credited'
  | 'currency-mismatch'
  | 'no-dispute'
  | 'already-covered'
  | 'refund-deduction-unsure'
  | 'dispute-deduction-unsure';
