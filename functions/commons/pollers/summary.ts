import { decimalText } from '../store/values.ts';
import type { FlowTotals } from '../upstream/types.ts';
import type { TotalsOutcome } from './totals.ts';

/** A totals outcome as JSON: decimals as exact decimal strings (MB). */
export function totalsOutcomeJson(outcome: TotalsOutcome) {
  if (!outcome.ok) return outcome;
  const pools: Record<string, Record<string, string>> = {};
  for (const [pool, t] of Object.entries(outcome.pools as FlowTotals)) {
    pools[pool] = {
      rechargedMb: decimalText(t.rechargedMb),
      consumedMb: decimalText(t.consumedMb),
      residualMb: decimalText(t.residualMb),
    };
  }
  return { ...outcome, pools };
}
