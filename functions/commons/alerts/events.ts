import type { Notifier } from '../notifier/types.ts';
import { NotifierError } from '../notifier/types.ts';
import type { OpsEvent, OpsEventKind, OpsEventSink } from '../ops-events.ts';
import { type AlertChange, type AlertStatePort, applyRule } from './engine.ts';
import { rank } from './types.ts';

// Events have no "still true" signal to remind on; they stay open until resolved.
const EVENT_LIFECYCLE = { holdPolls: 1, reminderMs: Number.POSITIVE_INFINITY };

/**
 * Ops events as alerts: one state per kind and subject (an order key, a report date). The
 * first raise notifies; repeats are silent unless they escalate to critical; `resolve`
 * closes it with one "resolved". Concurrent raises of one subject notify once.
 */
export class AlertEventSink implements OpsEventSink {
  readonly #deps: { state: AlertStatePort; notifier: Notifier; clock: () => Date };

  constructor(deps: { state: AlertStatePort; notifier: Notifier; clock: () => Date }) {
    this.#deps = deps;
  }

  /**
   * Throws NotifierError when the notice could not be delivered; it is then kept pending
   * and sent by the next `raise` or `resolve` of the same subject.
   */
  async raise(event: OpsEvent): Promise<void> {
    const change = await applyRule(
      this.#context(),
      { rule: event.kind, subject: event.subject },
      (current) => ({
        status: rank(current) > rank(event.severity) ? current : event.severity,
        facts: { type: 'event', event },
      }),
      EVENT_LIFECYCLE,
    );
    throwIfUndelivered(change);
  }

  /** Closes an open event alert (e.g. the order was credited by hand); false when not open. */
  async resolve(kind: OpsEventKind, subject: string, note = 'Resolved.'): Promise<boolean> {
    const change = await applyRule(
      this.#context(),
      { rule: kind, subject },
      () => ({
        status: 'ok',
        facts: {
          type: 'event',
          event: { kind, severity: 'warning', subject, summary: note, details: {} },
        },
      }),
      EVENT_LIFECYCLE,
    );
    throwIfUndelivered(change);
    return change.notice === 'resolved';
  }

  #context() {
    return { state: this.#deps.state, notifier: this.#deps.notifier, now: this.#deps.clock() };
  }
}

function throwIfUndelivered(change: AlertChange): void {
  if (change.delivery === 'failed') {
    throw new NotifierError(`alert ${change.rule}/${change.subject} not delivered`, {
      cause: change.error,
    });
  }
}
