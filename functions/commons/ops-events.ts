/**
 * Events other parts raise for people to act on (top-up failed, deduction unknown, …).
 * The alerting module implements `OpsEventSink` over its state machine and SNS notifier;
 * payments and reconciliation only depend on this interface.
 */
export type OpsEventKind =
  | 'topup-failed'
  | 'deduction-unknown'
  | 'amount-mismatch'
  | 'order-held'
  | 'reconciliation-difference';

export interface OpsEvent {
  kind: OpsEventKind;
  severity: 'warning' | 'critical';
  /** What it is about, stable across repeats (an order key, a report date). */
  subject: string;
  /** One line for people, no secrets. */
  summary: string;
  /** Facts shown in the email (customer, GB, amount, upstream code and message, …). */
  details: Record<string, string>;
}

export interface OpsEventSink {
  raise(event: OpsEvent): Promise<void>;
  /**
   * Closes an open alert, so the next raise of its subject is news again (the alerting sink
   * has it; false when not open).
   */
  resolve?(kind: OpsEventKind, subject: string, note?: string): Promise<boolean>;
}
