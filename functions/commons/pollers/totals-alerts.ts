import {
  type AlertDeps,
  burnFromDays,
  type EvaluationResult,
  evaluateAfterTotalsPoll,
} from '../alerts/index.ts';
import type { PoolBurn, PoolRefill } from '../alerts/types.ts';
import { addDays, dayInZone } from '../units.ts';
import type { PoolId } from '../upstream/types.ts';
import type { SeriesStore } from './store/series.ts';
import type { PollTotalsResult } from './totals.ts';

export interface TotalsAlertDeps {
  alerts: AlertDeps;
  series: Pick<SeriesStore, 'dailyConsumption' | 'nni'>;
  timeZone: string;
}

/**
 * The burn each pool's forecast uses, from the daily series poll-usage keeps. The reference
 * does not say which series belongs to which pool; FlowPilot takes the consumption series
 * (getFlowConsumeDetail) for the primary pool and the NNI series for the secondary one.
 */
async function burnByPool(deps: TotalsAlertDeps, at: Date): Promise<Record<PoolId, PoolBurn>> {
  const yesterday = addDays(dayInZone(at, deps.timeZone), -1);
  const [consume, nni] = await Promise.all([
    deps.series.dailyConsumption(7, yesterday),
    deps.series.nni(addDays(yesterday, -6), yesterday),
  ]);
  return {
    primary: burnFromDays(consume, yesterday),
    secondary: burnFromDays(
      nni.map((d) => ({ day: d.day, consumedMb: d.flowMb })),
      yesterday,
    ),
  };
}

/** Feeds one totals poll (success or failure), and the refills it showed, to the alert rules. */
export async function alertAfterTotals(
  deps: TotalsAlertDeps,
  { outcome, health }: PollTotalsResult,
  refills: Partial<Record<PoolId, PoolRefill>> = {},
): Promise<EvaluationResult> {
  const at = new Date(outcome.at);
  const input = {
    health: {
      consecutiveFailures: health.consecutiveFailures,
      ...(health.lastSuccessAt ? { lastSuccessAt: new Date(health.lastSuccessAt) } : {}),
    },
    outcome: outcome.ok
      ? {
          ok: true as const,
          at,
          pools: outcome.pools,
          burn: await burnByPool(deps, at),
          refills,
        }
      : { ok: false as const, at, reason: outcome.reason, message: outcome.message },
  };
  return evaluateAfterTotalsPoll(deps.alerts, input);
}
