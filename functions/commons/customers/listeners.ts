import type { BalanceListener } from './types.ts';

/**
 * What reacts to each balance computation, in order: the one place poll-customers' handler
 * takes its listeners from (customer notices and auto top-up are added here).
 */
export const balanceListeners: readonly BalanceListener[] = [];
