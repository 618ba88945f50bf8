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

/**
 * The upstream's recharge records carry no orderId, so a credit is matched to the record
 * of the same customer whose time is nearest within `toleranceMs`, preferring records of
 * the same amount (MB = GB × 1024, compared exactly). Each record matches at most once.
 * What is left over is a difference: an unmatched credit of the same customer and time but
 * another amount is an amount difference; otherwise it is missing upstream.
 */
export function matchRecharges(
  credits: readonly LedgerCredit[],
  records: readonly UpstreamRecharge[],
  toleranceMs: number,
): Matching {
  const unused = new Set(records.map((_, i) => i));
  const nearest = (credit: LedgerCredit, sameAmount: boolean): number | undefined => {
    const mb = gbToMb(credit.gb);
    let best: number | undefined;
    let bestGap = Number.POSITIVE_INFINITY;
    for (const i of unused) {
      const r = records[i];
      if (!r || r.customerId !== credit.customerId) continue;
      if (sameAmount && !r.mb.eq(mb)) continue;
      const gap = Math.abs(r.at.getTime() - credit.creditedAt.getTime());
      if (gap <= toleranceMs && gap < bestGap) {
        best = i;
        bestGap = gap;
      }
    }
    return best;
  };

  const out: Matching = {
    matched: [],
    missingUpstream: [],
    amountDifferences: [],
    manualTopUps: [],
  };
  const ordered = [...credits].sort((a, b) => a.creditedAt.getTime() - b.creditedAt.getTime());
  const leftover: LedgerCredit[] = [];
  // Exact amounts first, so that a near record of another amount cannot steal a true match.
  for (const credit of ordered) {
    const i = nearest(credit, true);
    const record = i === undefined ? undefined : records[i];
    if (i === undefined || !record) {
      leftover.push(credit);
      continue;
    }
    unused.delete(i);
    out.matched.push({ credit, upstream: record });
  }
  for (const credit of leftover) {
    const i = nearest(credit, false);
    const record = i === undefined ? undefined : records[i];
    if (i === undefined || !record) {
      out.missingUpstream.push(credit);
      continue;
    }
    unused.delete(i);
    out.amountDifferences.push({
      credit,
      upstream: record,
      ledgerMb: gbToMb(credit.gb).toFixed(),
      upstreamMb: record.mb.toFixed(),
    });
  }
  for (const i of [...unused].sort((a, b) => a - b)) {
    const r = records[i];
    if (r) out.manualTopUps.push(r);
  }
  return out;
}
