import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../functions/commons/errors.ts';
import { oldItem } from '../../functions/commons/payments/ledger/ledger-items.ts';
import { orderOfOldItem, toOrder } from '../../functions/commons/payments/ledger/ledger-orders.ts';
import { classifyUpstreamFailure } from '../../functions/commons/pollers/outcome.ts';
import {
  usageKeys as keys,
  usageFingerprint,
} from '../../functions/commons/pollers/store/usage.ts';
import { runLimited } from '../../functions/commons/store/batch.ts';
import { StoreError, storeCall } from '../../functions/commons/store/errors.ts';
import { dayExpiresAt, decimalText } from '../../functions/commons/store/values.ts';
import { Decimal } from '../../functions/commons/units.ts';
import {
  UpstreamAuthError,
  UpstreamDataError,
  UpstreamRejectedError,
  UpstreamTransportError,
} from '../../functions/commons/upstream/errors.ts';

describe('Store keys and stored forms', () => {
  it('builds the documented keys for a usage row', () => {
    // Act
    const key = keys.usage('39', '2025-12-25');

    // Assess
    expect(key).toEqual({
      pk: 'USAGE#39',
      sk: 'DAY#2025-12-25',
      gsi1pk: 'USAGEDAY#2025-12-25',
      gsi1sk: 'CUST#39',
    });
  });

  it('stores decimals as plain text without exponent or trailing zeros', () => {
    // Act
    const texts = ['596.90', '1e21', '0.0000001', '5242880.00'].map((v) =>
      decimalText(new Decimal(v)),
    );

    // Assess
    expect(texts).toEqual(['596.9', '1000000000000000000000', '0.0000001', '5242880']);
  });

  it('gives equal fingerprints to equal rows however their figures were written', () => {
    // Prepare
    const fresh = {
      userName: 'a@b.c',
      uploadMb: new Decimal('596.90'),
      downloadMb: new Decimal(1),
    };
    const stored = { userName: 'a@b.c', uploadMb: '596.9', downloadMb: '1' };

    // Act
    const same = usageFingerprint(fresh) === usageFingerprint(stored);
    const changed =
      usageFingerprint({ ...stored, downloadMb: '1.01' }) === usageFingerprint(stored);

    // Assess
    expect([same, changed]).toEqual([true, false]);
  });

  it('expires a day item retention days after the end of that day', () => {
    // Act
    const ttl = dayExpiresAt('2026-03-09', 400);

    // Assess
    expect(new Date(ttl * 1000).toISOString()).toBe('2027-04-14T00:00:00.000Z');
  });
});

describe('Function: storeCall', () => {
  it('wraps an SDK error in a StoreError that keeps it as cause and flags throttling', async () => {
    // Prepare
    const sdkError = Object.assign(new Error('slow down'), {
      name: 'ProvisionedThroughputExceededException',
    });

    // Act
    const failure = await storeCall('usage.put', () => Promise.reject(sdkError)).catch(
      (err: unknown) => err,
    );

    // Assess
    expect(failure).toBeInstanceOf(StoreError);
    expect(failure).toMatchObject({ operation: 'usage.put', retryable: true, cause: sdkError });
  });
});

describe('Function: runLimited', () => {
  it('keeps at most the limit running and waits for running calls before failing', async () => {
    // Prepare
    let running = 0;
    let peak = 0;
    const finished: number[] = [];
    const work = async (n: number) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n === 2 ? 1 : 5));
      running--;
      if (n === 2) throw new Error('boom');
      finished.push(n);
    };

    // Act
    const failure = await runLimited([1, 2, 3, 4, 5, 6], 2, work).catch((err: Error) => err);

    // Assess
    expect((failure as Error).message).toBe('boom');
    expect(peak).toBe(2);
    expect(running).toBe(0);
    expect(finished).not.toContain(6);
  });
});

describe('Function: classifyUpstreamFailure', () => {
  it('sorts upstream failures into auth, transport and data, and leaves others alone', () => {
    // Prepare
    const failures = [
      new UpstreamAuthError('getFlowTotalFull'),
      new UpstreamTransportError('timed out', 'flowReport', { kind: 'timeout', sent: true }),
      new UpstreamDataError('data is null', 'flowReport'),
      new UpstreamRejectedError('flowReport', 500, '系统错误'),
      new ValidationError('uploadFlow is not a decimal'),
      new TypeError('a bug'),
    ];

    // Act
    const kinds = failures.map((f) => classifyUpstreamFailure(f)?.kind);

    // Assess
    expect(kinds).toEqual(['auth', 'transport', 'data', 'data', 'data', undefined]);
  });
});

describe('Function: orderOfOldItem', () => {
  it('reads an order from a cancellation reason as unmarshall and toOrder would', () => {
    // Prepare: every kind of value an item can hold, and attributes an order does not have.
    const item = {
      pk: 'ORDER#stripe#cs_1',
      sk: 'ORDER',
      gsi1pk: 'ORDERS#CREDITING',
      provider: 'stripe',
      paymentId: 'cs_1',
      state: 'CREDITING',
      gb: '10.5',
      quantity: 3,
      amountMinor: 0,
      attempts: -2,
      leaseUntil: 1_796_149_068_563,
      refundedMinor: 999_999_999_999_999,
      deductedMinor: 9_007_199_254_740_993n,
      upstreamCode: 1.5,
      refundsDuringCredit: true,
      version: 12,
      reason: '',
      lastError: null,
      releaseNote: { nested: ['a', 1, false] },
      releasedBy: ['x', 2],
      unknownAttribute: 'dropped',
    };
    const raw = marshall(item, { removeUndefinedValues: true, allowImpreciseNumbers: true });
    raw.upstreamMessage = { N: '007' };
    raw.creditedAt = { N: '-0' };
    raw.releasedAt = { SS: ['a', 'b'] };
    raw.refundsResetAt = { N: '1e3' };

    // Act
    const fast = orderOfOldItem(raw) as Record<string, unknown> | undefined;
    const slow = toOrder(oldItem(raw) ?? {}) as unknown as Record<string, unknown>;

    // Assess: the same values; what the item lacks is undefined.
    expect(fast).toEqual(slow);
    const present = Object.keys(fast ?? {}).filter((k) => fast?.[k] !== undefined);
    expect(present.sort()).toEqual(Object.keys(slow).sort());
    expect(fast?.deductedMinor).toBe(9_007_199_254_740_993n);
    expect(Object.is(fast?.creditedAt, -0)).toBe(true);
    expect(fast?.customerId).toBeUndefined();
    expect(fast).not.toHaveProperty('pk');
    expect(fast).not.toHaveProperty('unknownAttribute');
    expect(orderOfOldItem(undefined)).toBeUndefined();
  });
});
