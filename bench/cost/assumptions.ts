/** What the cost bench assumes about a month; printed with its figures. */
export const ASSUMPTIONS = {
  /** Paid top-ups per customer per month (Checkout or auto top-up). */
  topupsPerCustomer: 2,
  /** Webhook deliveries per top-up (Stripe sends `checkout.session.completed` and retries). */
  deliveriesPerTopup: 2,
  /** Share of customers whose usage grows in a given hour. */
  activeShare: 0.3,
  /** Customer emails per customer per month (running low, ran out, receipts). */
  emailsPerCustomer: 3,
  /** Alert emails to the agent per month, and critical alerts by SMS. */
  alertEmails: 200,
  alertSms: 10,
  /** Days of usage the bench stores before it measures (storage is projected to retention). */
  historyDays: 3,
  /** Usage rows are kept this long (polling.retentionDays default). */
  retentionDays: 400,
  /**
   * Lambda writes START, END and REPORT lines per invocation in the text log format (REPORT
   * with the X-Ray trace line): about this many bytes.
   */
  platformLogBytes: 420,
  /** A warm container reads each of its secrets once per cache lifetime (functions/commons/secrets.ts). */
  secretCacheMinutes: 5,
} as const;

/** Runs per 30-day month at the default schedules (functions/commons/config/schedules.ts). */
export const RUNS_PER_MONTH = {
  'poll-totals': 30 * 288,
  'poll-usage': 30 * 24,
  'poll-customers': 30 * 96,
  reconcile: 30,
} as const;

/** Memory each function is deployed with, in MB (infra/stack.ts and its constructs). */
export const MEMORY_MB = {
  'poll-totals': 256,
  'poll-usage': 512,
  'poll-customers': 512,
  'customer-actions': 512,
  reconcile: 512,
  'payment-webhook': 512,
} as const;
