/**
 * Auto top-up's domain: the settings a customer chose, the charge episode the engine runs and
 * the history of both. store/autotopup.ts persists them; nothing here knows the table.
 */

export type EpisodeState =
  /** A run owns the charge until `claimUntil` and is asking Stripe. */
  | 'CLAIMED'
  /** Stripe took the money (or is taking it): the webhook credits it. */
  | 'PENDING'
  /** The bank wants 3-D Secure: the customer was sent a link. */
  | 'ACTION_REQUIRED'
  /** Declined: the next attempt goes at `nextTryAt`. */
  | 'RETRY_WAIT'
  /**
   * The ledger credited it, but the balance does not show the credit yet (the upstream's
   * records lag): the episode stays open so no second one starts on that stale balance.
   */
  | 'CREDITED';

export interface Episode {
  n: number;
  state: EpisodeState;
  /** 1 for the first charge; a decline's retry is the next attempt, with its own key. */
  attempt: number;
  startedAt: string;
  /** Epoch milliseconds; CLAIMED only. */
  claimUntil?: number;
  paymentIntentId?: string;
  /**
   * The card this attempt charges, fixed at its claim: a resume sends exactly the first
   * request, whatever card the customer saved since (absent on episodes from before).
   */
  paymentMethod?: string;
  stripeCustomer?: string;
  /** CREDITED: when the order was first recorded; the upstream's record of it cannot be older. */
  creditedSince?: string;
  /** What this episode charges, fixed when it started (a retry sends the same request). */
  packageId: string;
  quantity: number;
  gb: string;
  amountMinor: number;
  currency: string;
  nextTryAt?: string;
  /** PENDING: when to ask Stripe whether a payment still not credited went through. */
  checkAt?: string;
  /** The agent was told this charge is not credited (closed when it is). */
  uncreditedAlert?: boolean;
  /**
   * ACTION_REQUIRED whose 3-D Secure notice is not recorded yet (the run died, the outbox
   * failed): every run sends it until recorded (the notices deliver one per id).
   */
  noticeDue?: true;
  /** ACTION_REQUIRED: when the bank asked (its wait is bounded by `autoTopup.actionWaitHours`). */
  actionAt?: string;
  lastCode?: string;
}

export interface AutoTopupSettings {
  enabled: boolean;
  packageId: string;
  quantity: number;
  /** Charge when the balance falls below this many GB (decimal text). */
  belowGb: string;
  /** …or when the days left fall to this many. */
  orDaysLeft?: number;
  /** Episodes per calendar month; absent: `autoTopup.defaultMaxPerMonth`. */
  maxPerMonth?: number;
  paymentMethod?: string;
  stripeCustomer?: string;
}

/** Why auto top-up did not start a charge for a low customer (kept until it may). */
export type RefusalCode =
  | 'no-payment-method'
  | 'unknown-package'
  | 'order-max'
  | 'cooldown'
  | 'monthly-limit'
  | 'monthly-cap'
  | 'pool';

export interface Refusal {
  code: RefusalCode;
  detail: string;
}

export interface AutoTopupRecord extends AutoTopupSettings {
  customerId: string;
  /** Incremented by every write; the condition of the next one. */
  version: number;
  /** The last episode number used. */
  episodeSeq: number;
  episode?: Episode;
  /** When the last episode started (the cooldown counts from it). */
  lastEpisodeAt?: string;
  /** `yyyy-MM` that `chargesInMonth` counts. */
  month?: string;
  chargesInMonth: number;
  /** Why no episode starts though the customer is low (`cooldown`, `pool`, …), once per reason. */
  blocked?: RefusalCode;
  /**
   * The agent's "held back by the pool" alert of this customer is raised and not closed yet
   * (a settings change clears `blocked`, not this): closed when the customer is charged, no
   * longer low, or turned off.
   */
  poolAlerted?: boolean;
  /**
   * Turned on or its settings changed with no episode open: the next run looks at the
   * customer once on the stored balance (a balance standing still is never handed again).
   */
  lookAgain?: true;
  /**
   * When the settings last changed (a line `on`, `off` or `settings`, by anyone, the engine's
   * turning off included); episode steps leave it. A Checkout paid before it is not applied.
   */
  settingsChangedAt?: string;
  /** The last Checkout Session whose opt-in was applied (a redelivery of it changes nothing). */
  optInSession?: string;
  createdAt: string;
  updatedAt: string;
  updatedBy: string;
}

export interface HistoryLine {
  at: string;
  /** `cli:<user>`, `checkout:<session>`, `portal`, `auto`, `webhook`. */
  by: string;
  /** `on`, `settings`, `off`, `charge`, `charged`, `declined`, `credited`, … */
  event: string;
  detail: string;
  episode?: number;
}
