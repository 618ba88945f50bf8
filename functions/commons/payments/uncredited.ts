import { logger } from '../logger.ts';
import type { OpsEventSink } from '../ops-events.ts';
import { raiseAlert } from './alerts.ts';
import type { Ledger } from './ledger/ledger.ts';

/** How long a paid order may stay uncredited before a person hears of it. */
export const UNCREDITED_AFTER_MS = 60 * 60_000;
/** How far back stuck orders are looked for (Stripe retries for 3 days; others less). */
const LOOK_BACK_MS = 30 * 86_400_000;
const SUBJECT = 'orders-not-credited';

export interface UncreditedDeps {
  ledger: Pick<Ledger, 'listPaidNotCredited'>;
  /** `resolve` closes the alert once no order is left. */
  sink: OpsEventSink;
  clock: () => Date;
}

/**
 * Paid orders still RECEIVED or CREDITING an hour after their last claim: every upstream call
 * failed for now, or the run died, and the provider may have stopped retrying. Their customers
 * paid and got nothing yet, so one critical alert names them all (one problem, one message;
 * `flowpilot replay` credits them). Run by every totals poll.
 */
export async function alertUncreditedOrders(deps: UncreditedDeps): Promise<number> {
  const now = deps.clock().getTime();
  const stuck = await deps.ledger.listPaidNotCredited(
    new Date(now - LOOK_BACK_MS),
    new Date(now - UNCREDITED_AFTER_MS),
  );
  if (stuck.length === 0) {
    // Closed, so the next stuck order is news again, also to a person who acknowledged it;
    // not while an order tried again within the hour is still uncredited.
    const recent = await deps.ledger.listPaidNotCredited(
      new Date(now - UNCREDITED_AFTER_MS),
      new Date(now),
    );
    if (recent.length === 0) {
      await deps.sink.resolve?.(
        'topup-failed',
        SUBJECT,
        'No paid order of the last 30 days is left uncredited (older ones: flowpilot orders --state RECEIVED).',
      );
    }
    return 0;
  }
  const oldest = stuck.reduce((a, b) => (b.createdAt < a.createdAt ? b : a));
  logger.error('paid orders not credited', { orders: stuck.length });
  await raiseAlert(deps.sink, {
    kind: 'topup-failed',
    severity: 'critical',
    subject: SUBJECT,
    summary: `${stuck.length} paid order(s) not credited for over an hour (the oldest paid ${oldest.createdAt.toISOString()}): run "flowpilot replay <order>" for each once the upstream answers`,
    details: {
      orders: stuck
        .slice(0, 20)
        .map((o) => `${replayKey(o.orderKey)} (customer ${o.customerId}, ${o.gb.toFixed()} GB)`)
        .join('; '),
      count: String(stuck.length),
    },
  });
  return stuck.length;
}

/** `ORDER#stripe#cs_…` as `flowpilot replay` takes it: `stripe:cs_…`. */
const replayKey = (orderKey: string) => orderKey.replace(/^ORDER#/, '').replace('#', ':');
