import type { Notifier } from '../notifier/types.ts';
import { type LifecycleOptions, type Step, step } from './lifecycle.ts';
import { alertTitle, renderGroup, renderMessage } from './messages.ts';
import { AlertStateConflictError, type AlertStateStore } from './store/alert-state.ts';
import type {
  AlertFacts,
  AlertNotice,
  AlertState,
  AlertStatus,
  NoticeKind,
  Quieted,
  RuleId,
} from './types.ts';

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
  /** A notice kept back (recorded, not sent), and why. */
  quieted?: { notice: NoticeKind; why: Quieted };
  error?: Error;
}

type Key = { rule: RuleId; subject: string };
type Observe = (current: AlertStatus) => { status: AlertStatus; facts: AlertFacts };

/** One rule's evaluation, decided but not written: pure, so it can be decided again. */
export interface Decision {
  key: Key;
  prev: AlertState | undefined;
  facts: AlertFacts;
  observed: AlertStatus;
  step: Step;
}

/** Lets the rule observe the stored state and steps the lifecycle; writes nothing. */
export function decide(
  prev: AlertState | undefined,
  key: Key,
  observe: Observe,
  now: Date,
  options: LifecycleOptions,
): Decision {
  const { status, facts } = observe(prev?.status ?? 'ok');
  return { key, prev, facts, observed: status, step: step(prev, key, status, now, options) };
}

/** A decision written by this evaluation, with the notice it owes (if any). */
export interface Committed {
  change: AlertChange;
  next?: AlertState;
  notice?: AlertNotice;
}

/**
 * Writes a decision conditionally on the version read. Only the writer that won owes the
 * notice; the loser reports `lost-race`.
 */
export async function commit(
  state: AlertStatePort,
  decision: Decision,
  now: Date,
): Promise<Committed> {
  const { key, prev, facts } = decision;
  const { next, notice, flap, quieted } = decision.step;
  const change: AlertChange = { ...key, status: next?.status ?? prev?.status ?? 'ok' };
  if (quieted) change.quieted = quieted;
  if (!next) return { change };
  next.summary = alertTitle(key.rule, key.subject, next.status, facts);
  // An event has no rule to re-read it from: its words are kept for the reminders.
  if (facts.type === 'event' && next.status !== 'ok') {
    next.event = { summary: facts.event.summary, details: facts.event.details };
  }
  try {
    await state.save(next, prev?.version);
  } catch (err) {
    if (err instanceof AlertStateConflictError) {
      return {
        change: { ...change, status: err.current?.status ?? change.status, delivery: 'lost-race' },
      };
    }
    throw err;
  }
  if (!notice) return { change, next };
  const previous: AlertStatus =
    notice === 'reminder'
      ? next.status
      : notice === 'flapping'
        ? (next.flapping?.worst ?? next.status)
        : (next.previousStatus ?? 'ok');
  return {
    change: { ...change, notice },
    next,
    notice: {
      kind: notice,
      ...key,
      status: next.status,
      previous,
      openedAt: next.openedAt,
      at: now,
      facts,
      ...(flap ? { flap } : {}),
    },
  };
}

/**
 * Publishes the notices of one subject as one message (one SMS however many rules fired).
 * When delivery fails each notice is recorded as pending, so the next evaluation sends it.
 */
export async function deliver(
  deps: { state: AlertStatePort; notifier: Notifier },
  items: readonly Committed[],
): Promise<AlertChange[]> {
  const owed: (Committed & { notice: AlertNotice; next: AlertState })[] = [];
  const rest: AlertChange[] = [];
  for (const i of items) {
    if (i.notice && i.next) owed.push({ ...i, notice: i.notice, next: i.next });
    else rest.push(i.change);
  }
  const [only] = owed;
  if (!only) return rest;
  const message =
    owed.length === 1 ? renderMessage(only.notice) : renderGroup(owed.map((i) => i.notice));
  try {
    await deps.notifier.publish(message);
    return [...rest, ...owed.map((i) => ({ ...i.change, delivery: 'sent' as const }))];
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    const marked = await Promise.allSettled(
      owed.map((i) => deps.state.markPending(i.next, i.notice.kind)),
    );
    // Delivery failure is the news; the pending mark is best effort on top of it.
    const markErrors = marked.flatMap((m) => (m.status === 'rejected' ? [m.reason] : []));
    const reported = markErrors.length ? new AggregateError([error, ...markErrors]) : error;
    return [
      ...rest,
      ...owed.map((i) => ({ ...i.change, delivery: 'failed' as const, error: reported })),
    ];
  }
}

/**
 * Reads the state, lets the rule observe it, steps the lifecycle, writes conditionally on
 * the version read, and only the writer that won notifies. A failed delivery is recorded
 * as pending so the next evaluation sends it.
 */
export async function applyRule(
  deps: { state: AlertStatePort; notifier: Notifier; now: Date },
  key: Key,
  observe: Observe,
  options: LifecycleOptions,
): Promise<AlertChange> {
  const prev = await deps.state.get(key.rule, key.subject);
  const committed = await commit(
    deps.state,
    decide(prev, key, observe, deps.now, options),
    deps.now,
  );
  const [change] = await deliver(deps, [committed]);
  return change ?? committed.change;
}
