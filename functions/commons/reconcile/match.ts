import type { Decimal } from 'decimal.js';
import { gbToMb } from '../units.ts';

/** A top-up FlowPilot credited (from its ledger). */
export interface LedgerCredit {
  orderKey: string;
  customerId: string;
  gb: Decimal;
  creditedAt: Date;
  /** First claimed (absent: creditedAt): the upstream applied it in [createdAt, creditedAt]. */
  createdAt?: Date;
}

/** A recharge as the upstream records it (no orderId: account, MB, zone-less time). */
export interface UpstreamRecharge {
  customerId: string;
  account: string;
  mb: Decimal;
  at: Date;
  createTime: string;
}

export interface AmountDifference {
  credit: LedgerCredit;
  upstream: UpstreamRecharge;
  ledgerMb: string;
  upstreamMb: string;
}

export interface Matching {
  matched: { credit: LedgerCredit; upstream: UpstreamRecharge }[];
  /** Credited in the ledger, nowhere upstream: traffic paid for may be missing. */
  missingUpstream: LedgerCredit[];
  /** Same customer and time, another amount. */
  amountDifferences: AmountDifference[];
  /** Upstream recharges with no ledger entry: manual top-ups from the vendor's console. */
  manualTopUps: UpstreamRecharge[];
}

/** A credit as a time window: the upstream applied it in [from, at] (ms), of `mb`. */
export interface CreditWindow {
  from: number;
  at: number;
  mb: Decimal;
}

/**
 * Pairs credits with records of the same MB stamped within `skewMs` of the credit's window,
 * one record to at most one credit, as many pairs as any assignment could make: per MB, by
 * window end, each credit takes the earliest record still free from its window's start (for
 * intervals and points this is maximal). The auto top-up's "does the balance show it" and
 * the reconciliation both match this way.
 */
export function matchInWindows<C extends CreditWindow, R extends { at: number; mb: Decimal }>(
  credits: readonly C[],
  records: readonly R[],
  skewMs: number,
): Map<C, R> {
  const free = new Map<string, R[]>();
  for (const r of records) {
    const key = r.mb.toFixed();
    free.set(key, [...(free.get(key) ?? []), r]);
  }
  for (const list of free.values()) list.sort((a, b) => a.at - b.at);
  const out = new Map<C, R>();
  for (const c of [...credits].sort((a, b) => a.at - b.at)) {
    const list = free.get(c.mb.toFixed()) ?? [];
    const i = list.findIndex((r) => r.at >= c.from - skewMs);
    const r = list[i];
    if (r && r.at <= c.at + skewMs) {
      out.set(c, r);
      list.splice(i, 1);
    }
  }
  return out;
}

/** How far `t` lies outside [from, at] (0 inside). */
const gapTo = (w: { from: number; at: number }, t: number) =>
  t < w.from ? w.from - t : t > w.at ? t - w.at : 0;

/**
 * The upstream's recharge records carry no orderId, so a credit is matched to a record of
 * the same customer and amount (MB = GB × 1024, compared exactly) stamped within
 * `toleranceMs` of its window, from its first claim to its credit (a credit healed by a
 * later retry is stamped after the upstream applied it), one record to one credit
 * (`matchInWindows`). What is left over is a difference: an unmatched credit with a record
 * of the same customer near its window but another amount is an amount difference;
 * otherwise it is missing upstream.
 */
export function matchRecharges(
  credits: readonly LedgerCredit[],
  records: readonly UpstreamRecharge[],
  toleranceMs: number,
): Matching {
  const windowOf = (credit: LedgerCredit) => ({
    credit,
    from: (credit.createdAt ?? credit.creditedAt).getTime(),
    at: credit.creditedAt.getTime(),
    mb: gbToMb(credit.gb),
  });
  const out: Matching = {
    matched: [],
    missingUpstream: [],
    amountDifferences: [],
    manualTopUps: [],
  };
  const unused = new Set(records);
  const leftover: ReturnType<typeof windowOf>[] = [];
  const customers = new Set(credits.map((c) => c.customerId));
  // Exact amounts first, so that a near record of another amount cannot steal a true match.
  for (const customerId of customers) {
    const windows = credits.filter((c) => c.customerId === customerId).map(windowOf);
    const own = records
      .filter((r) => r.customerId === customerId)
      .map((r) => ({ record: r, at: r.at.getTime(), mb: r.mb }));
    const pairs = matchInWindows(windows, own, toleranceMs);
    for (const w of windows) {
      const pair = pairs.get(w);
      if (!pair) {
        leftover.push(w);
        continue;
      }
      unused.delete(pair.record);
      out.matched.push({ credit: w.credit, upstream: pair.record });
    }
  }
  const byTime = (a: { credit: LedgerCredit }, b: { credit: LedgerCredit }) =>
    a.credit.creditedAt.getTime() - b.credit.creditedAt.getTime();
  out.matched.sort(byTime);
  for (const w of leftover.sort(byTime)) {
    let best: UpstreamRecharge | undefined;
    let bestGap = Number.POSITIVE_INFINITY;
    for (const r of unused) {
      if (r.customerId !== w.credit.customerId) continue;
      const gap = gapTo(w, r.at.getTime());
      if (gap <= toleranceMs && gap < bestGap) {
        best = r;
        bestGap = gap;
      }
    }
    if (!best) {
      out.missingUpstream.push(w.credit);
      continue;
    }
    unused.delete(best);
    out.amountDifferences.push({
      credit: w.credit,
      upstream: best,
      ledgerMb: w.mb.toFixed(),
      upstreamMb: best.mb.toFixed(),
    });
  }
  out.manualTopUps.push(...records.filter((r) => unused.has(r)));
  return out;
}
