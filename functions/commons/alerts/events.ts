import type { MaintenanceWindow } from '../config/alerts.ts';
import type { Notifier } from '../notifier/types.ts';
import { NotifierError } from '../notifier/types.ts';
import type { OpsEvent, OpsEventKind, OpsEventSink } from '../ops-events.ts';
import { type AlertChange, type AlertStatePort, applyRule } from './engine.ts';
import type { LifecycleOptions } from './lifecycle.ts';
import { quietingAt, type SilenceSource } from './quiet.ts';
import type { AlertStateStore } from './store/alert-state.ts';
import { type AlertState, type AlertStatus, type RuleId, rank } from './types.ts';

// A repeated raise is no news: reminders come from `remindDue`, on the configured interval.
const RAISE_LIFECYCLE: LifecycleOptions = { holdPolls: 1, reminderMs: Number.POSITIVE_INFINITY };

// Exhaustive over the kinds, so a new kind cannot be forgotten here.
const EVENT_KINDS: Record<OpsEventKind, true> = {
  'topup-failed': true,
  'deduction-unknown': true,
  'amount-mismatch': true,
  'order-held': true,
  'reconciliation-difference': true,
};

const isEventKind = (rule: RuleId): rule is OpsEventKind => Object.hasOwn(EVENT_KINDS, rule);

export interface AlertEventSinkDeps {
  state: AlertStatePort & Pick<AlertStateStore, 'listOpenAlerts'>;
  notifier: Notifier;
  clock: () => Date;
  /** Remind an open event alert this often (`alerts.reminderMinutes`). */
  reminderMs: number;
  /** Silences people set; an event kind is silenced only by naming it. */
  silences?: SilenceSource;
  /** `alerts.maintenance`: windows that name an event kind hold its notices too. */
  maintenance?: readonly MaintenanceWindow[];
}

/**
 * Ops events as alerts: one state per kind and subject (an order key, a report date). The
 * first raise notifies; repeats are silent unless they escalate to critical; `remindDue`
 * reminds of the open ones every `reminderMs`; `resolve` closes one with one "resolved".
 * Concurrent raises (or reminder runs) of one subject notify once.
 */
export class AlertEventSink implements OpsEventSink {
  readonly #deps: AlertEventSinkDeps;

  constructor(deps: AlertEventSinkDeps) {
    this.#deps = deps;
  }

  /**
   * Throws NotifierError when the notice could not be delivered; it is then kept pending
   * and sent by the next `raise`, `resolve` or `remindDue` of the same subject.
   */
  async raise(event: OpsEvent): Promise<void> {
    const context = this.#context();
    const change = await applyRule(
      context,
      { rule: event.kind, subject: event.subject },
      (current) => ({
        status: rank(current) > rank(event.severity) ? current : event.severity,
        facts: { type: 'event', event },
      }),
      await this.#quiet(RAISE_LIFECYCLE, context.now),
    );
    throwIfUndelivered(change);
  }

  /** Closes an open event alert (e.g. the order was credited by hand); false when not open. */
  async resolve(kind: OpsEventKind, subject: string, note = 'Resolved.'): Promise<boolean> {
    const context = this.#context();
    const change = await applyRule(
      context,
      { rule: kind, subject },
      () => ({
        status: 'ok',
        facts: {
          type: 'event',
          event: { kind, severity: 'warning', subject, summary: note, details: {} },
        },
      }),
      await this.#quiet(RAISE_LIFECYCLE, context.now),
    );
    throwIfUndelivered(change);
    // A "resolved" a silence holds back still closed the alert.
    return change.notice === 'resolved' || change.quieted?.notice === 'resolved';
  }

  /**
   * Reminds of every open event alert last notified at least `reminderMs` ago, with the
   * event's own words, and sends notices whose delivery failed earlier. Each goes through
   * the same conditional write as any rule, so concurrent callers remind once. Delivery
   * failures are in the result (kept pending); DynamoDB errors propagate (AlertStoreError).
   */
  async remindDue(): Promise<AlertChange[]> {
    const context = this.#context();
    const options = await this.#quiet(
      { holdPolls: 1, reminderMs: this.#deps.reminderMs },
      context.now,
    );
    // The index may lag; applyRule re-reads each one consistently before it decides.
    const due = (await this.#deps.state.listOpenAlerts()).flatMap((alert) =>
      isEventKind(alert.rule) &&
      (alert.pendingNotice || alert.heldNotice || isReminderDue(alert, context.now, options))
        ? [{ alert, kind: alert.rule }]
        : [],
    );
    return Promise.all(
      due.map(({ alert, kind }) =>
        applyRule(
          context,
          { rule: kind, subject: alert.subject },
          // Still open as it is: the lifecycle turns that into a reminder when one is due.
          (current) => ({
            status: current,
            facts: { type: 'event', event: storedEvent(kind, alert, current) },
          }),
          options,
        ),
      ),
    );
  }

  /** The options with the silences and windows in force now. */
  async #quiet(options: LifecycleOptions, now: Date): Promise<LifecycleOptions> {
    const quieting = await quietingAt(this.#deps.silences, this.#deps.maintenance ?? [], now);
    return { ...options, quiet: (_kind, next) => quieting.why(next.rule, next.subject) };
  }

  #context() {
    return { state: this.#deps.state, notifier: this.#deps.notifier, now: this.#deps.clock() };
  }
}

function isReminderDue(alert: AlertState, now: Date, options: LifecycleOptions): boolean {
  const since = alert.lastNotifiedAt ?? alert.openedAt;
  return since !== undefined && now.getTime() - since.getTime() >= options.reminderMs;
}

/** The event as it was raised, from what its alert state kept. */
function storedEvent(kind: OpsEventKind, alert: AlertState, current: AlertStatus): OpsEvent {
  return {
    kind,
    severity: current === 'ok' ? 'warning' : current,
    subject: alert.subject,
    summary: alert.event?.summary ?? alert.summary ?? 'Still open.',
    details: alert.event?.details ?? {},
  };
}

function throwIfUndelivered(change: AlertChange): void {
  if (change.delivery === 'failed') {
    throw new NotifierError(`alert ${change.rule}/${change.subject} not delivered`, {
      cause: change.error,
    });
  }
}
