import type { PoolRefill } from '../alerts/types.ts';
import { classifyUpstreamFailure } from '../pollers/outcome.ts';
import type { PoolSnapshot } from '../pollers/store/snapshots.ts';
import { dayInZone, parseUpstreamDateTime } from '../units.ts';
import type { DynamicTrafficApi, FlowTotals, PoolId } from '../upstream/types.ts';
import type { PoolRefillRecord, PoolRefillStore } from './store/pool-refills.ts';

export interface RefillDeps {
  upstream: Pick<DynamicTrafficApi, 'rechargeFlowListForMe'>;
  refills: Pick<PoolRefillStore, 'put'>;
  timeZone: string;
}

/** A record may be stamped a little before the snapshot that still showed the old figure. */
const RECORD_SLACK_MS = 10 * 60_000;
const PAGE_SIZE = 100;

/**
 * The pool ledger. A pool's recharged figure only rises when the agent buys traffic, so a
 * rise between two snapshots is a refill; only then is rechargeFlowListForMe read (what the
 * agent itself was credited), to date the refill by the upstream's own record: the record of
 * the same amount in the interval if there is one, else the latest one in it. Each refill is
 * kept (status page) and returned for the alert rules, which resolve a low-pool alert at once.
 * A failed record read still records the refill, dated by the snapshot.
 */
export async function noteRefills(
  deps: RefillDeps,
  previous: Partial<Record<PoolId, PoolSnapshot>>,
  current: { at: string; pools: FlowTotals },
): Promise<Partial<Record<PoolId, PoolRefill>>> {
  const out: Partial<Record<PoolId, PoolRefill>> = {};
  const rises = (Object.keys(current.pools) as PoolId[]).flatMap((pool) => {
    const before = previous[pool];
    const added = before ? current.pools[pool].rechargedMb.minus(before.rechargedMb) : undefined;
    return before && added?.gt(0) ? [{ pool, addedMb: added, since: before.at }] : [];
  });
  if (rises.length === 0) return out;
  const from = new Date(Math.min(...rises.map((r) => Date.parse(r.since))) - RECORD_SLACK_MS);
  const to = new Date(current.at);
  let records: {
    mb: PoolRefillRecord['addedMb'];
    at: Date;
    createTime: string;
    createBy: string;
  }[] = [];
  try {
    const page = await deps.upstream.rechargeFlowListForMe({
      startDate: dayInZone(from, deps.timeZone),
      endDate: dayInZone(to, deps.timeZone),
      pageNum: 1,
      pageSize: PAGE_SIZE,
    });
    records = page.rows.map((r) => ({
      mb: r.flowMb,
      at: parseUpstreamDateTime(r.createTime, deps.timeZone),
      createTime: r.createTime,
      createBy: r.createBy,
    }));
  } catch (err) {
    // The refill is a fact of the snapshots; the record only dates it.
    if (!classifyUpstreamFailure(err)) throw err;
  }
  for (const rise of rises) {
    const lo = Date.parse(rise.since) - RECORD_SLACK_MS;
    const inside = records.filter((r) => r.at.getTime() >= lo && r.at <= to);
    const match =
      inside.find((r) => r.mb.eq(rise.addedMb)) ??
      inside.sort((a, b) => a.at.getTime() - b.at.getTime())[inside.length - 1];
    const at = match?.at ?? to;
    const refill: PoolRefillRecord = {
      pool: rise.pool,
      addedMb: rise.addedMb,
      at: at.toISOString(),
      seenAt: current.at,
    };
    if (match)
      refill.record = { mb: match.mb, createTime: match.createTime, createBy: match.createBy };
    await deps.refills.put(refill);
    out[rise.pool] = { addedMb: rise.addedMb, at };
  }
  return out;
}
