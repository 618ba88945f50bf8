import { randomUUID } from 'node:crypto';
import type { DynamicTrafficApi, FlowTotals } from '../upstream/types.ts';
import { classifyUpstreamFailure } from './outcome.ts';
import type { PollErrorKind, PollHealth, PollStateStore } from './store/poll-state.ts';
import { POOLS, type PoolSnapshot, type SnapshotStore } from './store/snapshots.ts';

export const POLL_TOTALS = 'poll-totals';

export interface PollTotalsDeps {
  upstream: Pick<DynamicTrafficApi, 'getFlowTotalFull'>;
  snapshots: SnapshotStore;
  pollState: PollStateStore;
  clock?: () => Date;
  /** Names this poll in its snapshots (the Lambda request id in AWS). */
  pollId?: string;
}

export type TotalsOutcome =
  | { ok: true; at: string; pollId: string; pools: FlowTotals }
  | { ok: false; at: string; reason: PollErrorKind; message: string };

export interface PollTotalsResult {
  outcome: TotalsOutcome;
  /** Health after this poll, for the staleness rule. */
  health: PollHealth;
}

/**
 * Reads both pools' totals and keeps one snapshot per pool. A failed or unauthenticated read
 * writes no snapshot (never invent numbers) and counts as a failure in the poll's health.
 * Store failures are not upstream failures: they propagate.
 */
export async function pollTotals(deps: PollTotalsDeps): Promise<PollTotalsResult> {
  const now = (deps.clock ?? (() => new Date()))();
  const at = now.toISOString();
  const pollId = deps.pollId ?? randomUUID();

  let pools: FlowTotals;
  try {
    pools = await deps.upstream.getFlowTotalFull();
  } catch (err) {
    const failure = classifyUpstreamFailure(err);
    if (!failure) throw err;
    const health = await deps.pollState.recordFailure(POLL_TOTALS, now, failure);
    return {
      outcome: { ok: false, at, reason: failure.kind, message: failure.message },
      health,
    };
  }

  const snapshots: PoolSnapshot[] = POOLS.map((pool) => {
    const { rechargedMb, consumedMb, residualMb } = pools[pool];
    return { pool, at, pollId, rechargedMb, consumedMb, residualMb };
  });
  await deps.snapshots.put(snapshots);
  const health = await deps.pollState.recordSuccess(POLL_TOTALS, now);
  return { outcome: { ok: true, at, pollId, pools }, health };
}
