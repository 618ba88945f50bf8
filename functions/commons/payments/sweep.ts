import { logger } from '../logger.ts';
import type { OpsEventSink } from '../ops-events.ts';
import type { Ledger } from '../store/ledger.ts';
import type { LedgerReader } from '../store/ledger-read.ts';
import { markAbandoned } from './deduct.ts';

/** Parts looked at per sweep; more wait for the next one (they are alerted either way). */
const SWEEP_LIMIT = 500;

export interface SweepDeps {
  ledger: Pick<Ledger, 'settleDeduction'>;
  reader: Pick<LedgerReader, 'partsInState'>;
  sink: OpsEventSink;
  clock: () => Date;
  /** `payments.leaseSeconds`: no delivery can still be calling after it. */
  leaseSeconds: number;
}

/**
 * Deduction parts left DEDUCTING by a delivery that died (its claim written, `deductionFlow`
 * perhaps called, the answer never recorded) are marked UNKNOWN and alerted, as the lost
 * answer of a live delivery is. Run by every totals poll, so no part stays DEDUCTING unseen
 * longer than the lease plus one poll interval, whether or not the refund is redelivered.
 */
export async function sweepStuckDeductions(deps: SweepDeps): Promise<{ marked: number }> {
  const now = deps.clock();
  const parts = await deps.reader.partsInState('DEDUCTING', SWEEP_LIMIT);
  let marked = 0;
  for (const part of parts) {
    const age = now.getTime() - Date.parse(part.updatedAt);
    if (!(age > deps.leaseSeconds * 1000)) continue;
    if (await markAbandoned(deps, part.order, part, now)) marked += 1;
  }
  if (marked > 0) logger.warn('deductions left DEDUCTING marked UNKNOWN', { marked });
  return { marked };
}
