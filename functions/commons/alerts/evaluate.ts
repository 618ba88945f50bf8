import type { AlertsConfig } from '../config/alerts.ts';
import type { Notifier } from '../notifier/types.ts';
import { type AlertChange, type AlertStatePort, applyRule } from './engine.ts';
import { pollObservations, type TotalsPollInput } from './rules.ts';

export interface AlertDeps {
  state: AlertStatePort;
  notifier: Notifier;
  clock: () => Date;
  config: AlertsConfig;
}

export interface EvaluationResult {
  /** Every rule and subject evaluated, with the notice it sent (if any). */
  changes: AlertChange[];
  /** Notices that could not be delivered; each is re-sent at the next evaluation. */
  failed: AlertChange[];
}

// Thresholds may wait for N polls; the token and staleness are facts already (staleness
// counts its own polls).
const HELD_RULES = new Set(['low-residual', 'forecast']);

/**
 * Evaluates every rule after a totals poll, successful or not, and notifies on changes,
 * reminders and resolutions. Plain data in; the only effects are alert-state writes and
 * notifications. DynamoDB errors propagate (AlertStoreError); delivery failures do not.
 */
export async function evaluateAfterTotalsPoll(
  deps: AlertDeps,
  input: TotalsPollInput,
): Promise<EvaluationResult> {
  const now = deps.clock();
  const reminderMs = deps.config.reminderMinutes * 60_000;
  const changes = await Promise.all(
    pollObservations(deps.config, input, now).map((o) =>
      applyRule(
        { state: deps.state, notifier: deps.notifier, now },
        { rule: o.rule, subject: o.subject },
        o.observe,
        { holdPolls: HELD_RULES.has(o.rule) ? deps.config.holdPolls : 1, reminderMs },
      ),
    ),
  );
  return { changes, failed: changes.filter((c) => c.delivery === 'failed') };
}
