/**
 * The refund counters an order starts with or moves to. Apart from ledger-orders.ts so that
 * the orders and their parts (ledger-parts.ts) read it without importing each other.
 */
export interface RefundCounters {
  refundedMinor: number;
  deductedMinor: number;
  deductedGb: string;
  /** Disputed and not reinstated; absent on old orders. */
  disputedMinor?: number;
  /** When the provider created the refunded total (epoch seconds), when it says. */
  refundedAt?: number;
}
