import { describe, expect, it } from 'vitest';
import { paymentsSchema } from '../../functions/commons/config/payments.ts';
import {
  capMonth,
  configDecimal,
  decide,
  deriveOrderId,
  gbToDeduct,
  parseQuantity,
} from '../../functions/commons/payments/catalog.ts';
import type { PaymentSucceeded } from '../../functions/commons/payments/types.ts';

const config = paymentsSchema.parse({
  catalog: {
    gb10: { gb: 10, price: 1000, currency: 'USD' },
    half: { gb: '0.5', price: 99, currency: 'usd' },
  },
  maxGbPerOrder: 100,
});

const paid = (over: Partial<PaymentSucceeded> = {}): PaymentSucceeded => ({
  type: 'payment-succeeded',
  paymentId: 'p1',
  customerId: '88',
  packageId: 'gb10',
  amountMinor: 1000,
  currency: 'usd',
  ...over,
});

describe('Config: payments', () => {
  it('normalises the catalog: GB as decimal text, currency lower case', () => {
    // Assess
    expect(config.catalog.gb10).toEqual({ gb: '10', price: 1000, currency: 'usd' });
    expect(config.catalog.half?.gb).toBe('0.5');
    expect(config.stripe.toleranceSeconds).toBe(300);
    expect(config.epay.currency).toBe('cny');
  });

  it.each([
    [{ catalog: { x: { gb: -1, price: 1, currency: 'usd' } } }, 'catalog.x.gb'],
    [{ catalog: { x: { gb: '1.005', price: 1, currency: 'usd' } } }, 'catalog.x.gb'],
    [{ catalog: { x: { gb: 1, price: 1.5, currency: 'usd' } } }, 'catalog.x.price'],
    [{ catalog: { x: { gb: 1, price: 1, currency: 'dollars' } } }, 'catalog.x.currency'],
    [{ capTimeZone: 'Mars/Base' }, 'capTimeZone'],
    [{ leaseSeconds: 1 }, 'leaseSeconds'],
  ])('refuses %j at %s', (input, path) => {
    // Act
    const res = paymentsSchema.safeParse(input);

    // Assess
    expect(res.success).toBe(false);
    expect(res.error?.issues.map((i) => i.path.join('.'))).toContain(path);
  });
});

describe('Function: decide', () => {
  it('credits catalog GB × quantity when the amount matches', () => {
    // Act
    const d = decide(paid({ quantity: '3', amountMinor: 3000 }), config);

    // Assess
    expect(d.kind).toBe('credit');
    expect(d.gb?.toFixed()).toBe('30');
  });

  it.each([
    [{ customerId: undefined }, 'invalid-customer'],
    [{ customerId: '12a' }, 'invalid-customer'],
    [{ packageId: 'nope' }, 'unknown-package'],
    [{ packageId: '__proto__' }, 'unknown-package'],
    [{ quantity: '0' }, 'invalid-quantity'],
    [{ quantity: 'NaN' }, 'invalid-quantity'],
    [{ quantity: 1001 }, 'invalid-quantity'],
    [{ amountMinor: 999 }, 'amount-mismatch'],
    [{ currency: 'eur' }, 'amount-mismatch'],
  ])('rejects %j as %s', (over, reason) => {
    // Act
    const d = decide(paid(over as Partial<PaymentSucceeded>), config);

    // Assess
    expect(d).toMatchObject({ kind: 'reject', reason });
  });

  it('holds an order over the per-order maximum', () => {
    // Act
    const d = decide(paid({ quantity: 11, amountMinor: 11_000 }), config);

    // Assess
    expect(d).toMatchObject({ kind: 'hold', reason: 'order-max' });
  });

  it('follows a changed catalog and maximum, never a value parsed for the old configuration', () => {
    // Prepare: the same package and limit, then both changed.
    const before = paymentsSchema.parse({
      catalog: { p: { gb: '2.5', price: 100, currency: 'usd' } },
      maxGbPerOrder: '5',
    });
    const after = paymentsSchema.parse({
      catalog: { p: { gb: '4', price: 100, currency: 'usd' } },
      maxGbPerOrder: '3',
    });
    const order = paid({ packageId: 'p', quantity: 2, amountMinor: 200 });

    // Act
    const first = decide(order, before);
    const single = decide(paid({ packageId: 'p', amountMinor: 100 }), before);
    const second = decide(order, after);
    const third = decide(order, before);

    // Assess
    expect(first).toMatchObject({ kind: 'credit' });
    expect(first.gb?.toFixed()).toBe('5');
    expect(single.gb?.toFixed()).toBe('2.5');
    expect(second).toMatchObject({ kind: 'hold', reason: 'order-max' });
    expect(second.gb?.toFixed()).toBe('8');
    expect(third.gb?.toFixed()).toBe('5');
  });
});

describe('Function: configDecimal', () => {
  it('is the Decimal of the text it is given, whichever texts came before', () => {
    // Act
    const texts = ['10', '0.5', '10.00', '50000', '0.01', '123456789012345678901234.5'];
    const got = texts.map((t) => configDecimal(t));
    // More texts than are kept: each is still its own value.
    const many = Array.from({ length: 300 }, (_, i) => configDecimal(`${i}.25`).toFixed());

    // Assess
    expect(got.map((d) => d.toFixed())).toEqual([
      '10',
      '0.5',
      '10',
      '50000',
      '0.01',
      '123456789012345678901234.5',
    ]);
    expect(configDecimal('10')).toBe(got[0]);
    expect(many).toEqual(Array.from({ length: 300 }, (_, i) => `${i}.25`));
  });
});

describe('Function: parseQuantity', () => {
  it.each([
    [undefined, 1],
    ['', 1],
    ['2', 2],
    [7, 7],
    ['-1', undefined],
    ['1.5', undefined],
    [1.5, undefined],
    ['1e3', undefined],
    [Number.NaN, undefined],
    [1001, undefined],
  ])('reads %j as %j', (raw, expected) => {
    expect(parseQuantity(raw, 1000)).toBe(expected);
  });
});

describe('Function: deriveOrderId', () => {
  it('is 32 hex characters, stable per payment and namespaced by provider', () => {
    // Act
    const a = deriveOrderId('stripe', 'cs_1');

    // Assess
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(deriveOrderId('stripe', 'cs_1')).toBe(a);
    expect(deriveOrderId('standard', 'cs_1')).not.toBe(a);
    expect(deriveOrderId('stripe', 'cs_2')).not.toBe(a);
  });

  it('keeps the ids orders already carry upstream (SHA-256 of "provider:paymentId", UTF-8)', () => {
    // The upstream dedupes on these: a changed derivation would credit a redelivery twice.
    expect(deriveOrderId('stripe', 'cs_1')).toBe('137e3626f7335aec4391dd9eaa3c0776');
    expect(deriveOrderId('epay', '订单-42')).toBe('37d962b055c6b7f2c07b25604cceac56');
  });
});

describe('Function: gbToDeduct', () => {
  it.each([
    ['10', 300, 1000, '3'],
    ['10', 333, 1000, '3.33'],
    ['10', 666, 1000, '6.66'],
    ['10', 1000, 1000, '10'],
    ['10', 5000, 1000, '10'],
    ['0.5', 1, 3, '0.16'],
    ['10', 0, 0, '0'],
    // Past 20 significant digits a float-like quotient would land 0.01 GB low.
    ['25375.74', 47222616802408, 141667850407224, '8458.58'],
  ])('%s GB with %i of %i refunded → %s GB (rounded down)', (gb, covered, paidMinor, out) => {
    expect(gbToDeduct(gb, covered, paidMinor).toFixed()).toBe(out);
  });
});

describe('Function: capMonth', () => {
  it('counts months in the configured zone', () => {
    // 2026-01-31T17:00Z is already February 1st in Shanghai.
    expect(capMonth(new Date('2026-01-31T17:00:00Z'), 'Asia/Shanghai')).toBe('2026-02');
    expect(capMonth(new Date('2026-01-31T17:00:00Z'), 'UTC')).toBe('2026-01');
  });

  it('turns the month on the minute it turns in the zone, asked minute after minute', () => {
    // Prepare: Shanghai is UTC+8, so February starts at 2026-01-31T16:00:00Z.
    const zone = 'Asia/Shanghai';
    const at = (iso: string) => capMonth(new Date(iso), zone);

    // Act: the same minute twice, then the next, then the zone asked for an earlier instant.
    const got = [
      at('2026-01-31T15:59:00.000Z'),
      at('2026-01-31T15:59:59.999Z'),
      at('2026-01-31T16:00:00.000Z'),
      at('2026-01-31T16:00:30.000Z'),
      at('2026-01-31T15:59:30.000Z'),
      capMonth(new Date('2026-01-31T16:00:30.000Z'), 'UTC'),
      at('2026-01-31T16:00:30.000Z'),
    ];

    // Assess
    expect(got).toEqual([
      '2026-01',
      '2026-01',
      '2026-02',
      '2026-02',
      '2026-01',
      '2026-01',
      '2026-02',
    ]);
  });
});
