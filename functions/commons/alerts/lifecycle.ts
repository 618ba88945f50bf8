import { type AlertState, type AlertStatus, type NoticeKind, type RuleId, rank } from './types.ts';

export interface LifecycleOptions {
  /** Polls in a row a worse status must be seen before it fires (1: at once). */
  holdPolls: number;
  /** Remind this often while not ok; `Infinity` for never. */
  reminderMs: number;
}

export interface Step {
  /** The state to write, with the next version; undefined when nothing changed. */
  next: AlertState | undefined;
  notice: NoticeKind | undefined;
}

/**
 * One evaluation of the state machine: `observed` is the status the rule sees now (hysteresis
 * already applied). Worse: fires after `holdPolls`; better: eases or resolves at once; same:
 * reminds when due, or sends a notice whose delivery failed earlier.
 */
export function step(
  prev: AlertState | undefined,
  key: { rule: RuleId; subject: string },
  observed: AlertStatus,
  now: Date,
  options: LifecycleOptions,
): Step {
  const current = prev?.status ?? 'ok';
  const next: AlertState = prev
    ? { ...prev }
    : { rule: key.rule, subject: key.subject, status: 'ok', version: 0, updatedAt: now };
  let notice: NoticeKind | undefined;
  let changed = false;

  if (rank(observed) > rank(current)) {
    const held = (prev?.holdCount ?? 0) + 1;
    if (held < options.holdPolls) {
      next.holdStatus = observed === 'ok' ? undefined : observed;
      next.holdCount = held;
      changed = true;
    } else {
      notice = current === 'ok' ? 'opened' : 'escalated';
      next.previousStatus = current;
      next.status = observed;
      if (current === 'ok') next.openedAt = now;
    }
  } else if (rank(observed) < rank(current)) {
    notice = observed === 'ok' ? 'resolved' : 'eased';
    next.previousStatus = current;
    next.status = observed;
  } else {
    const since = prev?.lastNotifiedAt ?? prev?.openedAt;
    if (current !== 'ok' && since && now.getTime() - since.getTime() >= options.reminderMs) {
      notice = 'reminder';
    } else if (prev?.pendingNotice) {
      notice = prev.pendingNotice;
    }
  }

  if (notice || rank(observed) <= rank(current)) {
    if (next.holdCount !== undefined || next.holdStatus !== undefined) changed = true;
    next.holdCount = undefined;
    next.holdStatus = undefined;
  }
  if (notice) {
    next.lastNotifiedAt = now;
    next.pendingNotice = undefined;
    changed = true;
  }
  if (!changed) return { next: undefined, notice: undefined };
  next.version = (prev?.version ?? 0) + 1;
  next.updatedAt = now;
  return { next, notice };
}
