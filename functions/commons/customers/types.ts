/**
 * The contract between the customer-balance poll (which computes balances) and what reacts
 * to them (customer notices, auto top-up). Amounts are decimal MB as text, never floats.
 */

/** One customer's balance as the balance poll last computed it. */
export interface CustomerBalance {
  /** Canonical decimal customer id, no leading zeros. */
  customerId: string;
  /** Upstream account name, when known. */
  account?: string;
  /** opening + credits − deductions − usage; may be negative. */
  balanceMb: string;
  /** Average daily usage over the last full day and the last 7 full days; null without data. */
  burn1dMb: string | null;
  burn7dMb: string | null;
  /** Days until the balance reaches zero at the burn both averages agree on; null when unknown. */
  daysLeft: number | null;
  /** The last credit (top-up) seen, for "percent of the last top-up" thresholds and receipts. */
  lastCreditMb: string | null;
  lastCreditAt: string | null;
  /** When the figures were computed (ISO 8601). */
  asOf: string;
  /**
   * Set when the balance is negative only for want of an opening: never calibrated, and its
   * usage exceeds every credit known. Not a balance: nothing may notify or charge on it, and
   * views show "not calibrated" with `flowpilot customer calibrate`; days left are null.
   */
  uncalibrated?: true;
  /**
   * The credit records the balance counted in the 48 hours before its newest one, oldest
   * first (at most 50): which of FlowPilot's own credits it shows, one record for one credit.
   * Absent on a balance computed before they were kept.
   */
  recentCredits?: { at: string; mb: string }[];
}

/** A credit that landed on a customer since the previous computation. */
export interface CustomerCredit {
  mb: string;
  at: string;
  /** FlowPilot's order id when the credit came through the webhook path. */
  orderId?: string;
}

/** What changed for one customer in one balance computation. */
export interface BalanceChange {
  before: CustomerBalance | undefined;
  after: CustomerBalance;
  /** Credits that landed since `before` (empty when none). */
  credits: readonly CustomerCredit[];
}

/** Reacts to the customers a balance computation touched, in one batch. */
export interface BalanceListener {
  readonly name: string;
  onBalances(changes: readonly BalanceChange[]): Promise<void>;
}
