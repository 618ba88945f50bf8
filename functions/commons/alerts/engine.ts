import type { Notifier } from '../notifier/types.ts';
import { AlertStateConflictError, type AlertStateStore } from '../store/alert-state.ts';
import { type LifecycleOptions, step } from './lifecycle.ts';
import { alertTitle, renderMessage } from './messages.ts';
import type { AlertFacts, AlertStatus, NoticeKind, RuleId } from './types.ts';

/** The part of the store the engine uses (a real AlertStateStore in code and tests). */
export type AlertStatePort = Pick<AlertStateStore, 'get' | 'save' | 'markPending'>;

/** What happened to one rule and subject in one evaluation. */
export interface AlertChange {
  rule: RuleId;
  subject: string;
  status: AlertStatus;
  /** The notice this evaluation was responsible for, if any. */
  notice?: NoticeKind;
  /** `sent`; `failed` (kept as pending, re-sent next time); `lost-race` (the winner sends). */
  delivery?: 'sent' | 'failed' | 'lost-race';
  error?: Error;
}

/**
 * Reads the state, lets the rule observe it, steps the lifecycle, writes conditionally on
 * the version read, and only the writer that won notifies. A failed delivery is recorded
 * as pending so the next evaluation sends it.
 */
export async function applyRule(
  deps: { state: AlertStatePort; notifier: Notifier; now: Date },
  key: { rule: RuleId; subject: string },
  observe: (current: AlertStatus) => { status: AlertStatus; facts: AlertFacts },
  options: LifecycleOptions,
): Promise<AlertChange> {
  const prev = await deps.state.get(key.rule, key.subject);
  const { status, facts } = observe(prev?.status ?? 'ok');
  const { next, notice } = step(prev, key, status, deps.now, options);
  const change: AlertChange = { ...key, status: next?.status ?? prev?.status ?? 'ok' };
  if (!next) return change;
  next.summary = alertTitle(key.rule, key.subject, next.status, facts);
  // An event has no rule to re-read it from: its words are kept for the reminders.
  if (facts.type === 'event' && next.status !== 'ok') {
    next.event = { summary: facts.event.summary, details: facts.event.details };
  }
  try {
    await deps.state.save(next, prev?.version);
  } catch (err) {
    if (err instanceof AlertStateConflictError) {
      return { ...change, status: err.current?.status ?? change.status, delivery: 'lost-race' };
    }
    throw err;
  }
  if (!notice) return change;
  const message = renderMessage({
    kind: notice,
    ...key,
    status: next.status,
    previous: notice === 'reminder' ? next.status : (next.previousStatus ?? 'ok'),
    openedAt: next.openedAt,
    at: deps.now,
    facts,
  });
  try {
    await deps.notifier.publish(message);
    return { ...change, notice, delivery: 'sent' };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      await deps.state.markPending(next, notice);
    } catch (markError) {
      // Delivery failure is the news; the pending mark is best effort on top of it.
      return {
        ...change,
        notice,
        delivery: 'failed',
        error: new AggregateError([error, markError]),
      };
    }
    return { ...change, notice, delivery: 'failed', error };
  }
}
