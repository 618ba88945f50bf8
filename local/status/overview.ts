import {
  type Quieting,
  quietingAt,
  type SilenceSource,
} from '../../functions/commons/alerts/quiet.ts';
import { burnFromDays, poolFigures } from '../../functions/commons/alerts/rules.ts';
import type { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import type { AlertState, PoolBurn } from '../../functions/commons/alerts/types.ts';
import type { MaintenanceWindow } from '../../functions/commons/config/alerts.ts';
import type {
  PollHealth,
  PollStateStore,
} from '../../functions/commons/pollers/store/poll-state.ts';
import type { SeriesStore } from '../../functions/commons/pollers/store/series.ts';
import { POOLS, type SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { POLL_TOTALS } from '../../functions/commons/pollers/totals.ts';
import { POLL_USAGE } from '../../functions/commons/pollers/usage.ts';
import { addDays, type Decimal, dayInZone } from '../../functions/commons/units.ts';
import type { PoolId } from '../../functions/commons/upstream/types.ts';

/** What the operator's views (`flowpilot status`, the status page) read. */
export interface StatusDeps {
  snapshots: SnapshotStore;
  series: SeriesStore;
  pollState: PollStateStore;
  alerts: Pick<AlertStateStore, 'listOpenAlerts'>;
  /** Silences in force, shown with the alerts they hold back; absent: none shown. */
  silences?: SilenceSource;
  /** `alerts.maintenance`, to show which alerts a window holds back now. */
  maintenance?: readonly MaintenanceWindow[];
  /** The upstream's calendar (config.upstream.timeZone): "yesterday" is a day there. */
  timeZone: string;
  clock: () => Date;
}

/**
 * The burn of each pool, exactly as the forecast alert reads it (pollers/totals-alerts.ts):
 * the consumption series (getFlowConsumeDetail) for the primary pool, the NNI series for
 * the secondary one. The reference does not say which series is which pool's.
 */
async function burnByPool(
  series: StatusDeps['series'],
  yesterday: string,
): Promise<Record<PoolId, PoolBurn>> {
  const [consume, nni] = await Promise.all([
    series.dailyConsumption(7, yesterday),
    series.nni(addDays(yesterday, -6), yesterday),
  ]);
  return {
    primary: burnFromDays(consume, yesterday),
    secondary: burnFromDays(
      nni.map((d) => ({ day: d.day, consumedMb: d.flowMb })),
      yesterday,
    ),
  };
}

export interface PoolStatus {
  pool: PoolId;
  /** When the snapshot was read (ISO). */
  at: string;
  rechargedMb: Decimal;
  consumedMb: Decimal;
  residualMb: Decimal;
  /** Absent for a pool never recharged. */
  residualPercent?: Decimal;
  /** MB per day the forecast divides by, and which figure it is. */
  burnMbPerDay?: Decimal;
  burnBasis?: '7-day average' | 'last day';
  daysLeft?: Decimal;
}

export interface StatusOverview {
  at: string;
  pools: PoolStatus[];
  /** Pools with no snapshot yet. */
  missingPools: PoolId[];
  polls: { totals: PollHealth; usage: PollHealth };
  openAlerts: AlertState[];
  /** The silences in force and the windows open now (what holds an alert's notices back). */
  quieting: Quieting;
}

/** Reads everything the views show, at once. */
export async function collectStatus(deps: StatusDeps): Promise<StatusOverview> {
  const now = deps.clock();
  const yesterday = addDays(dayInZone(now, deps.timeZone), -1);
  const [latest, burns, totals, usage, openAlerts, quieting] = await Promise.all([
    deps.snapshots.latestAll(),
    burnByPool(deps.series, yesterday),
    deps.pollState.health(POLL_TOTALS),
    deps.pollState.health(POLL_USAGE),
    deps.alerts.listOpenAlerts(),
    quietingAt(deps.silences, deps.maintenance ?? [], now),
  ]);
  const pools: PoolStatus[] = [];
  const missingPools: PoolId[] = [];
  for (const pool of POOLS) {
    const snap = latest[pool];
    if (!snap) {
      missingPools.push(pool);
      continue;
    }
    const figures = poolFigures(pool, snap, burns[pool], new Date(snap.at));
    const status: PoolStatus = {
      pool,
      at: snap.at,
      rechargedMb: snap.rechargedMb,
      consumedMb: snap.consumedMb,
      residualMb: snap.residualMb,
    };
    if (figures.residualPercent) status.residualPercent = figures.residualPercent;
    // The 7-day average is steadier; the last day stands in until a week is known.
    const burn = figures.burn;
    if (burn.sevenDayAvgMb?.gt(0) && figures.daysLeftSevenDay) {
      status.burnMbPerDay = burn.sevenDayAvgMb;
      status.burnBasis = '7-day average';
      status.daysLeft = figures.daysLeftSevenDay;
    } else if (burn.lastDayMb?.gt(0) && figures.daysLeftLastDay) {
      status.burnMbPerDay = burn.lastDayMb;
      status.burnBasis = 'last day';
      status.daysLeft = figures.daysLeftLastDay;
    }
    pools.push(status);
  }
  return {
    at: now.toISOString(),
    pools,
    missingPools,
    polls: { totals, usage },
    openAlerts,
    quieting,
  };
}
