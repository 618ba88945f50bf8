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
  /**
   * That total as reported, before the failed refunds it counted are taken out
   * (`refundedMinor` is what it stands for): a failure is judged against it.
   */
  refundedTotalMinor?: number;
}

/**
 * A refund that failed, as its order keeps it: the refunded totals created from `created` to
 * `at` counted it (`standingRefunds`, coverage.ts), later ones and earlier ones do not.
 */
export interface FailedRefund {
  minor: number;
  /** Epoch seconds the refund was created; absent: counted by every total before `at`. */
  created?: number;
  /** Epoch seconds it failed (the failure event's creation). */
  at: number;
}
