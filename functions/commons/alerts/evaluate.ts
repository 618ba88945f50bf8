import type { AlertsConfig } from '../config/alerts.ts';
import type { Notifier } from '../notifier/types.ts';
import {
  type AlertChange,
  type AlertStatePort,
  type Committed,
  commit,
  type Decision,
  decide,
  deliver,
} from './engine.ts';
import type { LifecycleOptions } from './lifecycle.ts';
import { quietingAt, type SilenceSource } from './quiet.ts';
import {
  type Observation,
  pollObservations,
  type TotalsPollInput,
  UPSTREAM_SUBJECT,
} from './rules.ts';
import { type AlertState, type AlertStatus, type NoticeKind, type RuleId, rank } from './types.ts';

export interface AlertDeps {
  state: AlertStatePort;
  notifier: Notifier;
  clock: () => Date;
  config: AlertsConfig;
  /** Silences people set (`flowpilot silence add`); absent: none. */
  silences?: SilenceSource;
}

export interface EvaluationResult {
  /** Every rule and subject evaluated, with the notice it sent (if any). */
  changes: AlertChange[];
  /** Notices that could not be delivered; each is re-sent at the next evaluation. */
  failed: AlertChange[];
}

// Thresholds may wait for N polls, both ways; the token and staleness are facts already
// (staleness counts its own polls).
const HELD_RULES = new Set<RuleId>(['low-residual', 'forecast']);
const POOL_RULES = HELD_RULES;

/** The level a notice is sent at: the worse of what it reports (as the renderer decides). */
function noticeLevel(kind: NoticeKind, next: AlertState): AlertStatus {
  const other =
    kind === 'flapping'
      ? next.flapping?.worst
      : kind === 'reminder'
        ? undefined
        : next.previousStatus;
  return other && rank(other) > rank(next.status) ? other : next.status;
}

const statusAfter = (d: Decision): AlertStatus => d.step.next?.status ?? d.prev?.status ?? 'ok';

/**
 * Inhibition, from where every rule stands after this poll: while the token is rejected no
 * other poll rule speaks (it says why figures stop); a pool at critical keeps its own
 * lower-level notices back. Held notices go out once the inhibiting alert is over.
 */
function inhibitor(first: readonly Decision[], storedToken: AlertState | undefined) {
  const token = first.find((d) => d.key.rule === 'token-rejected');
  const tokenRejected = (token ? statusAfter(token) : (storedToken?.status ?? 'ok')) !== 'ok';
  const criticalPools = new Set(
    first
      .filter((d) => POOL_RULES.has(d.key.rule) && statusAfter(d) === 'critical')
      .map((d) => d.key.subject),
  );
  return (rule: RuleId, subject: string, kind: NoticeKind, next: AlertState): boolean => {
    if (tokenRejected && rule !== 'token-rejected') return true;
    return (
      POOL_RULES.has(rule) && criticalPools.has(subject) && noticeLevel(kind, next) !== 'critical'
    );
  };
}

/**
 * Evaluates every rule after a totals poll, successful or not, and notifies on changes,
 * reminders and resolutions: what one subject (a pool) has to say goes out as one message;
 * silences, maintenance windows and inhibition keep notices back (the state still records
 * them). Plain data in; the only effects are alert-state writes and notifications. DynamoDB
 * errors propagate (AlertStoreError, StoreError); delivery failures do not.
 */
export async function evaluateAfterTotalsPoll(
  deps: AlertDeps,
  input: TotalsPollInput,
): Promise<EvaluationResult> {
  const now = deps.clock();
  const { config } = deps;
  const observations = pollObservations(config, input, now);
  // A poll that failed for another reason says nothing about the token: what is stored does.
  const tokenObserved = observations.some((o) => o.rule === 'token-rejected');
  const [quieting, prevs, storedToken] = await Promise.all([
    quietingAt(deps.silences, config.maintenance, now),
    Promise.all(observations.map((o) => deps.state.get(o.rule, o.subject))),
    tokenObserved ? undefined : deps.state.get('token-rejected', UPSTREAM_SUBJECT),
  ]);
  const options = ({ rule, refilled }: Observation): LifecycleOptions => ({
    holdPolls: HELD_RULES.has(rule) ? config.holdPolls : 1,
    clearPolls: HELD_RULES.has(rule) && !refilled ? config.clearPolls : 1,
    reminderMs: config.reminderMinutes * 60_000,
    ...(config.flap.enabled ? { flap: config.flap } : {}),
  });
  // Deciding is pure: a first pass learns where every rule stands, for inhibition.
  const first = observations.map((o, i) => decide(prevs[i], o, o.observe, now, options(o)));
  const inhibited = inhibitor(first, storedToken);
  const decisions = observations.map((o, i) =>
    decide(prevs[i], o, o.observe, now, {
      ...options(o),
      quiet: (kind, next) =>
        quieting.why(o.rule, o.subject) ??
        (inhibited(o.rule, o.subject, kind, next) ? 'inhibited' : undefined),
    }),
  );
  const committed = await Promise.all(decisions.map((d) => commit(deps.state, d, now)));

  const bySubject = new Map<string, Committed[]>();
  for (const c of committed) {
    const group = bySubject.get(c.change.subject) ?? [];
    group.push(c);
    bySubject.set(c.change.subject, group);
  }
  const delivered = (
    await Promise.all([...bySubject.values()].map((g) => deliver(deps, g)))
  ).flat();
  // In the order the rules were evaluated.
  const changes = committed.map(
    (c) =>
      delivered.find((d) => d.rule === c.change.rule && d.subject === c.change.subject) ?? c.change,
  );
  return { changes, failed: changes.filter((c) => c.delivery === 'failed') };
}
