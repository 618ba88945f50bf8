import type { BalanceChange, BalanceListener } from './types.ts';

/** The listeners by name, as failures and their metric name them. */
export const LISTENER_NAMES = {
  /** poll-customers' one listener: the hand-off to customer-actions. */
  handoff: 'customer-actions',
  notices: 'customer-notices',
  autoTopup: 'auto-top-up',
} as const;

/** A listener that threw, by name, with what it threw. */
export interface ListenerFailure {
  name: string;
  message: string;
}

/**
 * Hands the changes to each listener in order. Each gets them whatever the others do, so one
 * failing reaction neither blocks another nor makes the caller repeat the work the others did.
 */
export async function runListeners(
  listeners: readonly BalanceListener[],
  changes: readonly BalanceChange[],
): Promise<ListenerFailure[]> {
  const failures: ListenerFailure[] = [];
  for (const listener of listeners) {
    try {
      await listener.onBalances(changes);
    } catch (err) {
      const message = err instanceof Error ? `${err.name}: ${err.message}` : 'unknown error';
      failures.push({ name: listener.name, message });
    }
  }
  return failures;
}
