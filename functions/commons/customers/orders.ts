import type { LedgerCredit } from '../reconcile/match.ts';
import { gbToMb } from '../units.ts';
import { canonicalCustomerId } from './ids.ts';
import type { CustomerRecord } from './store/customer-records.ts';

/** A pair's fit: how many are matched, then how far apart in total (smaller is better). */
interface Fit {
  n: number;
  gapMs: number;
  /** How the cell was reached, to read the matching back. */
  step: 'skip-credit' | 'skip-record' | 'match' | 'start';
}

const better = (a: Fit, b: Fit) => a.n > b.n || (a.n === b.n && a.gapMs < b.gapMs);

/**
 * How far a record lies outside the time its credit was applied upstream: between the first
 * claim and creditedAt (a credit healed by a later retry is stamped later than its record).
 */
function gapToWindow(at: number, c: LedgerCredit): number {
  const from = (c.createdAt ?? c.creditedAt).getTime();
  return Math.max(0, from - at, at - c.creditedAt.getTime());
}

/**
 * Names the order behind each upstream credit record. The records carry no orderId, so the
 * ledger's credits are assigned one to one to the records of the same customer and amount:
 * as many pairs as the tolerance allows, then the smallest total gap. Given every record
 * around the credits (those counted in earlier runs too), an earlier order keeps its own
 * record and cannot take a newer one, so each payment gets its own receipt. Along one time
 * line an optimal assignment never crosses (swapping two crossed pairs never widens a gap),
 * so it is found in time order, credits × records per customer and amount.
 *
 * Returns record key → order key for the records matched.
 */
export function assignOrders(
  credits: readonly LedgerCredit[],
  records: readonly CustomerRecord[],
  toleranceMs: number,
): Map<string, string> {
  const group = (customerId: string, mb: string) => `${customerId}\u0000${mb}`;
  const byGroup = new Map<string, { credits: LedgerCredit[]; records: CustomerRecord[] }>();
  const slot = (key: string) => {
    const g = byGroup.get(key) ?? { credits: [], records: [] };
    byGroup.set(key, g);
    return g;
  };
  for (const c of credits) {
    slot(group(canonicalCustomerId(c.customerId), gbToMb(c.gb).toFixed())).credits.push(c);
  }
  for (const r of records) {
    if (r.type === 0) slot(group(r.customerId, r.mb.toFixed())).records.push(r);
  }

  const out = new Map<string, string>();
  for (const g of byGroup.values()) {
    const cs = [...g.credits].sort(
      (a, b) =>
        a.creditedAt.getTime() - b.creditedAt.getTime() || a.orderKey.localeCompare(b.orderKey),
    );
    const rs = [...g.records].sort(
      (a, b) => a.at.localeCompare(b.at) || a.key.localeCompare(b.key),
    );
    if (cs.length === 0 || rs.length === 0) continue;
    // fit[i][j]: the best assignment of the first i credits to the first j records.
    const fit: Fit[][] = [];
    for (let i = 0; i <= cs.length; i++) {
      const row: Fit[] = [];
      for (let j = 0; j <= rs.length; j++) {
        const up = fit[i - 1]?.[j];
        const left = row[j - 1];
        let best: Fit = up
          ? { ...up, step: 'skip-credit' }
          : left
            ? { ...left, step: 'skip-record' }
            : { n: 0, gapMs: 0, step: 'start' };
        if (up && left && better(left, best)) best = { ...left, step: 'skip-record' };
        const diag = fit[i - 1]?.[j - 1];
        const c = cs[i - 1];
        const r = rs[j - 1];
        if (diag && c && r) {
          const gapMs = gapToWindow(Date.parse(r.at), c);
          const matched: Fit = { n: diag.n + 1, gapMs: diag.gapMs + gapMs, step: 'match' };
          if (gapMs <= toleranceMs && better(matched, best)) best = matched;
        }
        row.push(best);
      }
      fit.push(row);
    }
    for (let i = cs.length, j = rs.length; i > 0 && j > 0; ) {
      const step = fit[i]?.[j]?.step;
      if (step === 'match') {
        const c = cs[i - 1];
        const r = rs[j - 1];
        if (c && r) out.set(r.key, c.orderKey);
        i--;
        j--;
      } else if (step === 'skip-credit') i--;
      else j--;
    }
  }
  return out;
}
