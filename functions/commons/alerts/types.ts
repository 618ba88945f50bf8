import type { Decimal } from 'decimal.js';
import type { OpsEvent, OpsEventKind } from '../ops-events.ts';
import type { PoolId } from '../upstream/types.ts';

export type Severity = 'warning' | 'critical';
export type AlertStatus = 'ok' | Severity;

/** Rules evaluated after each totals poll, and the kinds of events other parts raise. */
export type PollRuleId = 'low-residual' | 'forecast' | 'token-rejected' | 'data-stale';
export type RuleId = PollRuleId | OpsEventKind;

/**
 * What a notification says happened to an alert. `flapping`: the figure keeps crossing a
 * level, notices are held until it is stable; `settled`: it has been, here is where.
 */
export type NoticeKind =
  | 'opened'
  | 'escalated'
  | 'eased'
  | 'reminder'
  | 'resolved'
  | 'flapping'
  | 'settled';

/** Why a notice was kept back: a silence, a maintenance window, a worse alert, an ack. */
export type Quieted = 'silenced' | 'maintenance' | 'inhibited' | 'acknowledged';

/** A person saw the alert: no reminders until its status changes (or `until`). */
export interface AlertAck {
  at: Date;
  by?: string;
  until?: Date;
}

/** The lifecycle of one rule for one subject (a pool, `upstream`, an order key). */
export interface AlertState {
  rule: RuleId;
  subject: string;
  status: AlertStatus;
  /** Optimistic lock: every write expects the version it read and stores the next one. */
  version: number;
  /** The status before the last change (what a resolved or eased notice reports). */
  previousStatus?: AlertStatus;
  /** When the current (or, once ok, the last) not-ok episode began. */
  openedAt?: Date;
  lastNotifiedAt?: Date;
  /** "Must hold for N polls": the worse status seen and for how many polls in a row. */
  holdStatus?: Severity;
  holdCount?: number;
  /** A notice whose delivery failed; sent at the next evaluation. */
  pendingNotice?: NoticeKind;
  /** "Must stay clear for N polls" before resolving: clear polls in a row so far. */
  clearCount?: number;
  /**
   * Observed statuses of the last polls, oldest first, one letter each (`o`, `w`, `c`);
   * absent once the subject has been steady at its status for the whole window.
   */
  recent?: string;
  /** Flapping since, and the worst status seen meanwhile (what the settle notice reports). */
  flapping?: { since: Date; worst: Severity };
  /** A notice kept back by a silence, a maintenance window or a worse alert; sent once free. */
  heldNotice?: NoticeKind;
  /** Why the last notice was kept back, for the operator's views. */
  quieted?: Quieted;
  ack?: AlertAck;
  /** One line for people, from the last evaluation that changed something. */
  summary?: string;
  /** An open event's own words, kept so its reminders can repeat them. */
  event?: Pick<OpsEvent, 'summary' | 'details'>;
  updatedAt: Date;
}

/**
 * "Do not notify about this until then", set by a person. No rule: every poll rule (money
 * and reconciliation events are silenced only by naming them); no subject: every subject.
 */
export interface Silence {
  id: string;
  rule?: RuleId;
  subject?: string;
  startsAt: Date;
  endsAt: Date;
  reason: string;
  by?: string;
  createdAt: Date;
  /** Ended early by `silence expire`. */
  expiredAt?: Date;
}

/** Why a poll read no figures: `auth` (the token was rejected), `transport` or `data`. */
export type PollFailureKind = 'auth' | 'transport' | 'data';

export function rank(status: AlertStatus): number {
  return status === 'critical' ? 2 : status === 'warning' ? 1 : 0;
}

/** Burn figures for a pool, MB per day; missing ones disable the forecast for the pool. */
export interface PoolBurn {
  /** Consumption over the trailing day. */
  lastDayMb?: Decimal;
  /** Average daily consumption over the trailing 7 days. */
  sevenDayAvgMb?: Decimal;
}

/** Everything a pool alert can tell people; computed once per poll. */
export interface PoolFigures {
  pool: PoolId;
  /** When the figures were read from the upstream. */
  at: Date;
  rechargedMb: Decimal;
  consumedMb: Decimal;
  residualMb: Decimal;
  /** Residual as a percent of recharged; absent for a pool never recharged. */
  residualPercent?: Decimal;
  burn: PoolBurn;
  /** Days left at each burn; absent when the burn is unknown or zero. */
  daysLeftLastDay?: Decimal;
  daysLeftSevenDay?: Decimal;
  /** The pool was refilled since the previous poll (pool ledger). */
  refill?: PoolRefill;
}

/** Traffic the agent bought for a pool: the rise in recharged MB, and when. */
export interface PoolRefill {
  addedMb: Decimal;
  at: Date;
}

/** The facts a message is built from, per kind of rule. */
export type AlertFacts =
  | {
      type: 'pool';
      rule: 'low-residual' | 'forecast';
      figures: PoolFigures;
      levels: { warning: number; critical: number; unit: 'GB' | '%' | 'days' }[];
    }
  | { type: 'token'; message: string; at: Date }
  | {
      type: 'stale';
      consecutiveFailures: number;
      lastSuccessAt?: Date;
      lastFailure?: { reason: PollFailureKind; message: string; at: Date };
      failedPolls: number;
      maxAgeMinutes: number;
    }
  | { type: 'event'; event: OpsEvent };

/** A notification to send: plain data, rendered into texts by `renderMessage`. */
export interface AlertNotice {
  kind: NoticeKind;
  rule: RuleId;
  subject: string;
  status: AlertStatus;
  /** The status before this change (equal to `status` for a reminder). */
  previous: AlertStatus;
  openedAt?: Date;
  /** When it was decided (the evaluation's clock). */
  at: Date;
  facts: AlertFacts;
  /** For `flapping` and `settled`: how restless the figure was. */
  flap?: { changes: number; polls: number; stablePolls: number };
}
