import type { AlertsConfig } from '../config/alerts.ts';
import { addDays, Decimal, mbToGb, sum } from '../units.ts';
import type { FlowTotals, PoolId } from '../upstream/types.ts';
import type {
  AlertFacts,
  AlertStatus,
  PollFailureKind,
  PollRuleId,
  PoolBurn,
  PoolFigures,
  PoolRefill,
} from './types.ts';
import { rank } from './types.ts';

/** What a totals poll produced, as plain data. */
export type TotalsPollOutcome =
  | {
      ok: true;
      /** When the figures were read. */
      at: Date;
      pools: FlowTotals;
      /** Daily burn per pool; a pool without both figures gets no forecast alert. */
      burn?: Partial<Record<PoolId, PoolBurn>>;
      /** Pools refilled since the previous poll: judged without hysteresis. */
      refills?: Partial<Record<PoolId, PoolRefill>>;
    }
  | {
      ok: false;
      at: Date;
      /** `auth`: the upstream rejected the token; the others count towards staleness. */
      reason: PollFailureKind;
      /** For people; never a secret. */
      message: string;
    };

export interface TotalsPollInput {
  outcome: TotalsPollOutcome;
  /** Poll health after recording this outcome. */
  health: { consecutiveFailures: number; lastSuccessAt?: Date };
}

/** One rule about one subject; `observe` gets the current status so hysteresis can apply. */
export interface Observation {
  rule: PollRuleId;
  subject: string;
  /** A refill since the previous poll: judged afresh, so "resolved" needs no clear polls. */
  refilled?: boolean;
  observe(current: AlertStatus): { status: AlertStatus; facts: AlertFacts };
}

export const UPSTREAM_SUBJECT = 'upstream';

/**
 * Burn figures from a daily consumption series (oldest first or any order): the last full
 * day's consumption, and the 7-day average only when all 7 days are known, since a missing
 * day is unknown, not zero. `endDay` is the last full day (yesterday in the upstream's zone).
 */
export function burnFromDays(
  days: readonly { day: string; consumedMb: Decimal }[],
  endDay: string,
): PoolBurn {
  const byDay = new Map(days.map((d) => [d.day, d.consumedMb]));
  const week = Array.from({ length: 7 }, (_, i) => byDay.get(addDays(endDay, -i)));
  const burn: PoolBurn = {};
  const last = byDay.get(endDay);
  if (last) burn.lastDayMb = last;
  if (week.every((d) => d !== undefined)) burn.sevenDayAvgMb = sum(week as Decimal[]).div(7);
  return burn;
}
const POOLS: readonly PoolId[] = ['primary', 'secondary'];

/**
 * The status a lower-is-worse figure maps to. Entering a level needs the figure below it;
 * leaving a level already held needs it `marginPercent` above it (hysteresis). An undefined
 * figure is unbounded (no burn: no run-out).
 */
export function levelStatus(
  value: Decimal | undefined,
  levels: { warning: number; critical: number },
  current: AlertStatus,
  marginPercent: number,
): AlertStatus {
  if (value === undefined) return 'ok';
  const factor = new Decimal(marginPercent).div(100).plus(1);
  const below = (level: number, held: boolean) =>
    value.lt(held ? new Decimal(level).mul(factor) : new Decimal(level));
  if (below(levels.critical, current === 'critical')) return 'critical';
  if (below(levels.warning, rank(current) >= rank('warning'))) return 'warning';
  return 'ok';
}

const worst = (a: AlertStatus, b: AlertStatus) => (rank(a) >= rank(b) ? a : b);
const mildest = (a: AlertStatus, b: AlertStatus) => (rank(a) <= rank(b) ? a : b);

export function poolFigures(
  pool: PoolId,
  totals: FlowTotals[PoolId],
  burn: PoolBurn | undefined,
  at: Date,
  refill?: PoolRefill,
): PoolFigures {
  const figures: PoolFigures = { pool, at, ...totals, burn: { ...burn } };
  if (refill) figures.refill = refill;
  if (totals.rechargedMb.gt(0)) {
    figures.residualPercent = totals.residualMb.div(totals.rechargedMb).mul(100);
  }
  if (burn?.lastDayMb?.gt(0)) figures.daysLeftLastDay = daysLeft(totals.residualMb, burn.lastDayMb);
  if (burn?.sevenDayAvgMb?.gt(0)) {
    figures.daysLeftSevenDay = daysLeft(totals.residualMb, burn.sevenDayAvgMb);
  }
  return figures;
}

function daysLeft(residualMb: Decimal, burnMb: Decimal): Decimal {
  return Decimal.max(residualMb, 0).div(burnMb);
}

/**
 * A pool never recharged (the upstream reports zeros) is not in use: nothing to warn about.
 * Zeros from a pool already alerted are no good news, so its alert is judged on the figures.
 */
const unused = (f: PoolFigures, current: AlertStatus) =>
  current === 'ok' && f.rechargedMb.isZero() && f.residualMb.lte(0);

/**
 * The rules to evaluate after a totals poll. A failed read yields no pool observation at all
 * (never invent numbers); an auth failure raises token-rejected and holds staleness back,
 * since the token alert already says why figures stop.
 */
export function pollObservations(
  config: AlertsConfig,
  input: TotalsPollInput,
  now: Date,
): Observation[] {
  const { outcome, health } = input;
  const out: Observation[] = [];
  if (outcome.ok) {
    for (const pool of POOLS) out.push(...poolObservations(config, outcome, pool));
  }
  if (config.tokenRejected.enabled && (outcome.ok || outcome.reason === 'auth')) {
    out.push(tokenObservation(outcome));
  }
  if (config.stale.enabled && (outcome.ok || outcome.reason !== 'auth')) {
    out.push(staleObservation(config.stale, outcome, health, now));
  }
  return out;
}

type PollRead = Extract<TotalsPollOutcome, { ok: true }>;
type PoolConfig = AlertsConfig['pools'][PoolId];

/** A pool's low-residual rule and, when both burns are known, its forecast rule. */
function poolObservations(config: AlertsConfig, outcome: PollRead, pool: PoolId): Observation[] {
  const poolConfig = config.pools[pool];
  if (!poolConfig.enabled) return [];
  const figures = poolFigures(
    pool,
    outcome.pools[pool],
    outcome.burn?.[pool],
    outcome.at,
    outcome.refills?.[pool],
  );
  const margin = config.hysteresisPercent;
  const out = [residualObservation(figures, poolConfig, margin)];
  const burn = figures.burn;
  if (config.forecast.enabled && burn.lastDayMb && burn.sevenDayAvgMb) {
    out.push(forecastObservation(figures, config.forecast.daysLeft, margin));
  }
  return out;
}

/** A refill is news, not a hovering figure: the alert is judged afresh and may resolve. */
const freshStatus = (figures: PoolFigures, held: AlertStatus): AlertStatus =>
  figures.refill ? 'ok' : held;

function residualObservation(
  figures: PoolFigures,
  poolConfig: PoolConfig,
  margin: number,
): Observation {
  return {
    rule: 'low-residual',
    subject: figures.pool,
    ...(figures.refill ? { refilled: true } : {}),
    observe: (held) => {
      const current = freshStatus(figures, held);
      return {
        status: unused(figures, current)
          ? 'ok'
          : worst(
              levelStatus(mbToGb(figures.residualMb), poolConfig.residualGb, current, margin),
              levelStatus(figures.residualPercent, poolConfig.residualPercent, current, margin),
            ),
        facts: {
          type: 'pool',
          rule: 'low-residual',
          figures,
          levels: [
            { ...poolConfig.residualGb, unit: 'GB' },
            { ...poolConfig.residualPercent, unit: '%' },
          ],
        },
      };
    },
  };
}

function forecastObservation(
  figures: PoolFigures,
  days: AlertsConfig['forecast']['daysLeft'],
  margin: number,
): Observation {
  return {
    rule: 'forecast',
    subject: figures.pool,
    // Both burns must agree: the milder of the two statuses wins.
    observe: (held) => {
      const current = freshStatus(figures, held);
      return {
        status: unused(figures, current)
          ? 'ok'
          : mildest(
              levelStatus(figures.daysLeftLastDay, days, current, margin),
              levelStatus(figures.daysLeftSevenDay, days, current, margin),
            ),
        facts: { type: 'pool', rule: 'forecast', figures, levels: [{ ...days, unit: 'days' }] },
      };
    },
  };
}

function tokenObservation(outcome: TotalsPollOutcome): Observation {
  const message = outcome.ok ? '' : outcome.message;
  return {
    rule: 'token-rejected',
    subject: UPSTREAM_SUBJECT,
    observe: () => ({
      status: outcome.ok ? 'ok' : 'critical',
      facts: { type: 'token', message, at: outcome.at },
    }),
  };
}

function staleObservation(
  stale: AlertsConfig['stale'],
  outcome: TotalsPollOutcome,
  health: TotalsPollInput['health'],
  now: Date,
): Observation {
  const { failedPolls, maxAgeMinutes, severity } = stale;
  const failures = outcome.ok ? 0 : health.consecutiveFailures;
  const lastSuccessAt = outcome.ok ? outcome.at : health.lastSuccessAt;
  const tooOld =
    lastSuccessAt !== undefined && now.getTime() - lastSuccessAt.getTime() > maxAgeMinutes * 60_000;
  const status: AlertStatus = !outcome.ok && (failures >= failedPolls || tooOld) ? severity : 'ok';
  const facts: AlertFacts = {
    type: 'stale',
    consecutiveFailures: failures,
    failedPolls,
    maxAgeMinutes,
  };
  if (lastSuccessAt) facts.lastSuccessAt = lastSuccessAt;
  if (!outcome.ok) {
    facts.lastFailure = { reason: outcome.reason, message: outcome.message, at: outcome.at };
  }
  return { rule: 'data-stale', subject: UPSTREAM_SUBJECT, observe: () => ({ status, facts }) };
}
