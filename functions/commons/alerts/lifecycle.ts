import {
  type AlertAck,
  type AlertState,
  type AlertStatus,
  type NoticeKind,
  type Quieted,
  type RuleId,
  rank,
  type Severity,
} from './types.ts';

/** Flap detection (Nagios-style): state changes as a share of a window of polls. */
export interface FlapOptions {
  /** Polls the share of state changes is taken over. */
  windowPolls: number;
  /** Flapping starts when changes reach this percent of the window's transitions. */
  startPercent: number;
  /** Flapping ends once the figure held one status for this many polls in a row. */
  stablePolls: number;
}

export interface LifecycleOptions {
  /** Polls in a row a worse status must be seen before it fires (1: at once). */
  holdPolls: number;
  /** Remind this often while not ok; `Infinity` for never. */
  reminderMs: number;
  /** Polls in a row ok must be seen before "resolved" (1, the default: at once). */
  clearPolls?: number;
  /** Absent: no flap detection (event alerts have no polls). */
  flap?: FlapOptions;
  /** Why a notice must be kept back now (silence, maintenance window, a worse alert). */
  quiet?: (notice: NoticeKind, next: AlertState) => Exclude<Quieted, 'acknowledged'> | undefined;
}

export interface Step {
  /** The state to write, with the next version; undefined when nothing changed. */
  next: AlertState | undefined;
  notice: NoticeKind | undefined;
  /** For a `flapping` or `settled` notice: the figures it reports. */
  flap?: { changes: number; polls: number; stablePolls: number };
  /** The notice kept back this time, and why. */
  quieted?: { notice: NoticeKind; why: Quieted };
}

const LETTER: Record<AlertStatus, string> = { ok: 'o', warning: 'w', critical: 'c' };
const STATUS_OF: Record<string, AlertStatus> = { o: 'ok', w: 'warning', c: 'critical' };

function changesIn(recent: string): number {
  let n = 0;
  for (let i = 1; i < recent.length; i++) if (recent[i] !== recent[i - 1]) n++;
  return n;
}

function trailingRun(recent: string): number {
  const last = recent.at(-1);
  let n = 0;
  for (let i = recent.length - 1; i >= 0 && recent[i] === last; i--) n++;
  return n;
}

function worstIn(recent: string): Severity {
  return recent.includes('c') ? 'critical' : 'warning';
}

export function ackActive(ack: AlertAck | undefined, now: Date): boolean {
  return ack !== undefined && (ack.until === undefined || now < ack.until);
}

/**
 * A notice held back earlier combined with this evaluation's: an "opened" nobody heard
 * stays the news (and is no news once resolved); a reminder adds nothing to a held notice.
 */
function withHeld(held: NoticeKind | undefined, notice: NoticeKind | undefined) {
  if (!held) return notice;
  if (!notice || notice === 'reminder') return held;
  if (held === 'opened' && notice === 'resolved') return undefined;
  if (held === 'opened' && (notice === 'escalated' || notice === 'eased')) return 'opened';
  return notice;
}

/** Fields that only say when the state was written. */
function comparable(state: AlertState): string {
  const { version: _v, updatedAt: _u, ...rest } = state;
  return JSON.stringify(rest);
}

/**
 * One evaluation of the state machine: `observed` is the status the rule sees now (hysteresis
 * already applied). Worse: fires after `holdPolls`; better: eases at once, resolves after
 * `clearPolls`; same: reminds when due (not while acknowledged), or sends a notice whose
 * delivery failed earlier. With flap detection, a figure that keeps changing status gets one
 * `flapping` notice, then none until it held one status for `stablePolls`, then `settled`.
 * A notice `quiet` objects to is recorded in the state and sent once nothing holds it back.
 */
export function step(
  prev: AlertState | undefined,
  key: { rule: RuleId; subject: string },
  observed: AlertStatus,
  now: Date,
  options: LifecycleOptions,
): Step {
  const base: AlertState = prev ?? {
    rule: key.rule,
    subject: key.subject,
    status: 'ok',
    version: 0,
    updatedAt: now,
  };
  const next: AlertState = { ...base };
  let notice = moveStatus(prev, next, observed, now, options);
  let flap: Step['flap'];
  if (options.flap)
    ({ notice, flap } = trackFlapping(prev, next, observed, now, options.flap, notice));
  const { out, quieted } = quietNotice(prev, next, notice, now, options);
  if (out) {
    next.lastNotifiedAt = now;
    next.pendingNotice = undefined;
  }
  if (comparable(base) === comparable(next)) return { next: undefined, notice: undefined, quieted };
  next.version = (prev?.version ?? 0) + 1;
  next.updatedAt = now;
  return { next, notice: out, ...(flap ? { flap } : {}), ...(quieted ? { quieted } : {}) };
}

/**
 * The status change this evaluation makes to `next`, and the notice it calls for. The hold
 * and clear counts stay set only while a change is being waited for.
 */
function moveStatus(
  prev: AlertState | undefined,
  next: AlertState,
  observed: AlertStatus,
  now: Date,
  options: LifecycleOptions,
): NoticeKind | undefined {
  const current = next.status;
  next.holdCount = undefined;
  next.holdStatus = undefined;
  next.clearCount = undefined;
  const notice =
    rank(observed) > rank(current)
      ? worsen(prev, next, observed, now, options.holdPolls)
      : rank(observed) < rank(current)
        ? improve(prev, next, observed, options.clearPolls ?? 1)
        : sameStatusNotice(prev, current, now, options.reminderMs);
  // An acknowledgement lasts until the status changes.
  if (next.status !== current) next.ack = undefined;
  return notice;
}

/** Waiting for a worse or better status to be seen often enough. */
const waiting = (next: AlertState) => next.holdCount !== undefined || next.clearCount !== undefined;

/** Fires after `holdPolls` in a row; counts until then. */
function worsen(
  prev: AlertState | undefined,
  next: AlertState,
  observed: AlertStatus,
  now: Date,
  holdPolls: number,
): NoticeKind | undefined {
  const current = next.status;
  const held = (prev?.holdCount ?? 0) + 1;
  if (held < holdPolls) {
    next.holdStatus = observed === 'ok' ? undefined : observed;
    next.holdCount = held;
    return undefined;
  }
  next.previousStatus = current;
  next.status = observed;
  if (current === 'ok') next.openedAt = now;
  return current === 'ok' ? 'opened' : 'escalated';
}

/** Eases at once; resolves after `clearPolls` in a row. */
function improve(
  prev: AlertState | undefined,
  next: AlertState,
  observed: AlertStatus,
  clearPolls: number,
): NoticeKind | undefined {
  const cleared = (prev?.clearCount ?? 0) + 1;
  if (observed === 'ok' && cleared < clearPolls) {
    next.clearCount = cleared;
    return undefined;
  }
  next.previousStatus = next.status;
  next.status = observed;
  return observed === 'ok' ? 'resolved' : 'eased';
}

/** A reminder when due, else a notice whose delivery failed earlier. */
function sameStatusNotice(
  prev: AlertState | undefined,
  current: AlertStatus,
  now: Date,
  reminderMs: number,
): NoticeKind | undefined {
  const since = prev?.lastNotifiedAt ?? prev?.openedAt;
  if (current !== 'ok' && since && now.getTime() - since.getTime() >= reminderMs) return 'reminder';
  return prev?.pendingNotice;
}

/** Flap detection over the window of recent statuses; may replace the notice. */
function trackFlapping(
  prev: AlertState | undefined,
  next: AlertState,
  observed: AlertStatus,
  now: Date,
  options: FlapOptions,
  moved: NoticeKind | undefined,
): { notice: NoticeKind | undefined; flap: Step['flap'] } {
  const { windowPolls, startPercent, stablePolls } = options;
  // Absent: steady at the stored status for the whole window.
  const stored = prev?.status ?? 'ok';
  const recent = `${prev?.recent ?? LETTER[stored]}${LETTER[observed]}`.slice(-windowPolls);
  const changes = changesIn(recent);
  const facts = { changes, polls: recent.length, stablePolls };
  next.recent = recent;
  let notice = moved;
  let flap: Step['flap'];
  if (!next.flapping) {
    if (changes * 100 >= startPercent * (windowPolls - 1)) {
      next.flapping = { since: now, worst: worstIn(recent) };
      notice = 'flapping';
      flap = facts;
    }
  } else {
    const settled = whileFlapping(next, observed, recent, stablePolls);
    // Quiet while flapping, but a "flapping" notice whose delivery failed is sent again.
    notice = settled ? 'settled' : prev?.pendingNotice === 'flapping' ? 'flapping' : undefined;
    if (settled) flap = facts;
  }
  if (steady(next, stablePolls) && !waiting(next) && !next.flapping) {
    next.recent = undefined;
  }
  return { notice, flap };
}

/** Keeps the worst status seen while flapping; true (and flapping ended) once settled. */
function whileFlapping(
  next: AlertState,
  observed: AlertStatus,
  recent: string,
  stablePolls: number,
): boolean {
  const flapping = next.flapping as NonNullable<AlertState['flapping']>;
  const worst = rank(observed) > rank(flapping.worst) ? observed : flapping.worst;
  next.flapping = { ...flapping, worst: worst === 'ok' ? 'warning' : worst };
  const settled =
    trailingRun(recent) >= stablePolls && STATUS_OF[recent.at(-1) ?? 'o'] === next.status;
  if (settled) {
    next.previousStatus = next.flapping.worst;
    next.flapping = undefined;
    // A fresh window: the restlessness already reported is not counted twice.
    next.recent = undefined;
  }
  return settled;
}

/**
 * Held stable long enough to end flapping: the earlier changes need not be kept (and written
 * every poll) any longer.
 */
function steady(next: AlertState, stablePolls: number): boolean {
  const recent = next.recent;
  const letter = LETTER[next.status];
  return (
    recent !== undefined &&
    recent.at(-1) === letter &&
    (trailingRun(recent) >= stablePolls || recent === letter.repeat(recent.length))
  );
}

/**
 * The notice to send now, after one held back earlier and what `quiet` (or an
 * acknowledgement) objects to; a notice kept back is recorded in `next`.
 */
function quietNotice(
  prev: AlertState | undefined,
  next: AlertState,
  notice: NoticeKind | undefined,
  now: Date,
  options: LifecycleOptions,
): { out: NoticeKind | undefined; quieted: Step['quieted'] } {
  const out = withHeld(prev?.heldNotice, notice);
  next.heldNotice = undefined;
  if (!out) return { out: undefined, quieted: undefined };
  const why: Quieted | undefined =
    out === 'reminder' && ackActive(next.ack, now) ? 'acknowledged' : options.quiet?.(out, next);
  if (!why) {
    next.quieted = undefined;
    return { out, quieted: undefined };
  }
  // A reminder is not kept: the next one is due as soon as nothing holds it back.
  if (out !== 'reminder') next.heldNotice = out;
  next.quieted = why;
  return { out: undefined, quieted: { notice: out, why } };
}
