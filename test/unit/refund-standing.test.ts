import { describe, expect, it } from 'vitest';
import { failedRefundMinor, standingRefunds } from '../../functions/commons/payments/coverage.ts';

/**
 * What a refunded total stands for once the failed refunds it counted are taken out, when
 * failures share the total's second (Stripe stamps whole seconds). Review 11 (#26): two
 * refunds failing in that second were judged in the order they were stored, so one order
 * left a total standing for a refund that had failed (1 $ deducted for nothing).
 */
describe('failures in the second of a total', () => {
  const T = 1_000;
  const a = { minor: 400, created: T - 20, at: T }; // refund A, 4 $
  const b = { minor: 300, created: T - 10, at: T }; // refund B, 3 $

  it('whatever order they were stored in, a 4 $ total counted A: it stands for 0', () => {
    expect(standingRefunds(400, T, [a, b])).toBe(0);
    expect(standingRefunds(400, T, [b, a])).toBe(0);
  });

  it('whatever order the failures arrive in, the order is given back what the total stood for', () => {
    // The order holds the 4 $ total of second T; A and B fail in that second, one by one.
    const held = { refundedMinor: 400, refundedAt: T, refundedTotalMinor: 400 };
    const first = (f: typeof a) => failedRefundMinor({ ...held, failedRefunds: [] }, f);
    const then = (done: typeof a, f: typeof a) =>
      failedRefundMinor({ ...held, refundedMinor: 400 - first(done), failedRefunds: [done] }, f);
    expect(first(a) + then(a, b)).toBe(400);
    expect(first(b) + then(b, a)).toBe(400);
  });

  it('a failure outside the total (created after it, or failed before it) takes nothing', () => {
    const held = { refundedMinor: 400, refundedAt: T, refundedTotalMinor: 400 };
    expect(failedRefundMinor(held, { minor: 300, created: T + 5, at: T + 60 })).toBe(0);
    expect(failedRefundMinor(held, { minor: 300, created: T - 50, at: T - 1 })).toBe(0);
    expect(failedRefundMinor(held, { minor: 300, created: T - 50, at: T + 60 })).toBe(300);
  });
});
