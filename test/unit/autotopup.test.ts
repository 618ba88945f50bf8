import { describe, expect, it } from 'vitest';
import { idempotencyKey, isLow } from '../../functions/commons/autotopup/engine.ts';
import { checkoutOptInOf } from '../../functions/commons/autotopup/opt-in.ts';
import {
  AutoTopupSettingsError,
  checkCustomerId,
  checkSettings,
  parseOptIn,
} from '../../functions/commons/autotopup/settings.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { balanceFigures, emptyBalance } from '../../functions/commons/customers/balance.ts';
import type { CustomerBalance } from '../../functions/commons/customers/types.ts';
import { ConfigError } from '../../functions/commons/errors.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import { testPaymentsConfig } from '../integration/payments-fixtures.ts';

const balance = (mb: string, daysLeft: number | null = null): CustomerBalance => ({
  customerId: '88',
  balanceMb: mb,
  burn1dMb: null,
  burn7dMb: null,
  daysLeft,
  lastCreditMb: null,
  lastCreditAt: null,
  asOf: '2026-12-01T00:00:00Z',
});

describe('auto top-up rules', () => {
  it('is low strictly below the GB threshold, or at or under the days left', () => {
    const rule = { belowGb: '20', orDaysLeft: 2 };
    expect(isLow(rule, balance('20480'))).toBe(false); // exactly 20 GB
    expect(isLow(rule, balance('20479.99'))).toBe(true);
    expect(isLow(rule, balance('-5'))).toBe(true);
    expect(isLow(rule, balance('999999', 2))).toBe(true);
    expect(isLow(rule, balance('999999', 3))).toBe(false);
    expect(isLow({ belowGb: '20' }, balance('999999', 0))).toBe(false);
    expect(isLow(rule, balance('999999', null))).toBe(false);
  });

  it('never finds low a balance negative only for want of an opening', () => {
    // Never calibrated: 10 GB bought, 30 GB used since the records begin.
    const state = {
      ...emptyBalance('88'),
      creditsMb: gbToMb(10),
      recent: new Map([['2026-11-30', gbToMb(30)]]),
    };
    const figures = balanceFigures(state, '2026-12-01', new Date('2026-12-01T00:00:00Z'));
    expect(isLow({ belowGb: '20', orDaysLeft: 2 }, figures)).toBe(false);
    // Calibrated at 0 GB, the same usage leaves a real, negative balance: low.
    const opened = {
      ...state,
      opening: {
        mb: gbToMb(0),
        at: '2026-11-01T00:00:00.000Z',
        day: '2026-11-01',
        dayBaseMb: gbToMb(0),
      },
    };
    expect(
      isLow(
        { belowGb: '20' },
        balanceFigures(opened, '2026-12-01', new Date('2026-12-01T00:00:00Z')),
      ),
    ).toBe(true);
  });

  it('derives one idempotency key per customer, episode and attempt', () => {
    expect(idempotencyKey('88', { n: 3, attempt: 1 })).toBe('flowpilot-autotopup-88-3-1');
    expect(idempotencyKey('88', { n: 3, attempt: 2 })).not.toBe(
      idempotencyKey('88', { n: 3, attempt: 1 }),
    );
  });

  it('reads Checkout opt-ins as package:belowGb[:quantity]', () => {
    expect(parseOptIn('gb-100:20')).toEqual({ packageId: 'gb-100', belowGb: '20', quantity: 1 });
    expect(parseOptIn(' gb-100:20.5:2 ')).toEqual({
      packageId: 'gb-100',
      belowGb: '20.5',
      quantity: 2,
    });
    for (const bad of ['gb-100', 'gb-100:', ':20', 'a:b:c:d']) {
      expect(() => parseOptIn(bad)).toThrow(AutoTopupSettingsError);
    }
    expect(Number.isNaN(parseOptIn('gb-100:20:x').quantity)).toBe(true);
  });

  it('checks settings against the catalog and limits with messages that say what to fix', () => {
    const payments = testPaymentsConfig();
    const ok = { packageId: 'gb100', quantity: 1, belowGb: '20' };
    expect(() => checkSettings(ok, payments)).not.toThrow();
    expect(() => checkSettings({ ...ok, packageId: '__proto__' }, payments)).toThrow(
      /not in the catalog/,
    );
    expect(() => checkSettings({ ...ok, quantity: Number.NaN }, payments)).toThrow(/quantity/);
    expect(() => checkSettings({ ...ok, belowGb: '0' }, payments)).toThrow(/positive number of GB/);
    expect(() => checkSettings({ ...ok, belowGb: '1.234' }, payments)).toThrow(/2 decimals/);
    expect(() => checkSettings({ ...ok, orDaysLeft: 400 }, payments)).toThrow(/days left/);
    expect(() => checkSettings({ ...ok, maxPerMonth: 0 }, payments)).toThrow(/monthly limit/);
    expect(() => checkSettings({ ...ok, paymentMethod: 'card_123' }, payments)).toThrow(/pm_/);
    expect(() => checkSettings({ ...ok, stripeCustomer: 'cus_ bad' }, payments)).toThrow(/cus_/);
    expect(checkCustomerId('0088')).toBe('88');
    expect(() => checkCustomerId('88a')).toThrow(AutoTopupSettingsError);
  });

  it('takes an opt-in only from a paid Checkout Session that asks for one', () => {
    const event = (type: string, object: Record<string, unknown>) =>
      Buffer.from(JSON.stringify({ type, created: 1_796_000_000, data: { object } }));
    const session = {
      id: 'cs_1',
      payment_status: 'paid',
      client_reference_id: '88',
      metadata: { autoTopup: 'gb100:20' },
    };
    expect(checkoutOptInOf(event('checkout.session.completed', session))).toEqual({
      sessionId: 'cs_1',
      customerId: '88',
      spec: 'gb100:20',
      paidAt: new Date(1_796_000_000_000),
    });
    expect(
      checkoutOptInOf(
        event('checkout.session.async_payment_succeeded', {
          ...session,
          client_reference_id: null,
          metadata: { autoTopup: 'gb100:20', customerId: '89' },
        }),
      ),
    ).toMatchObject({ customerId: '89' });
    expect(
      checkoutOptInOf(
        event('checkout.session.completed', { ...session, payment_status: 'unpaid' }),
      ),
    ).toBeUndefined();
    expect(
      checkoutOptInOf(event('checkout.session.completed', { ...session, metadata: {} })),
    ).toBeUndefined();
    expect(checkoutOptInOf(event('payment_intent.succeeded', session))).toBeUndefined();
    expect(checkoutOptInOf(Buffer.from('not json'))).toBeUndefined();
    // A session of another shape asks for nothing.
    for (const odd of [
      { ...session, id: 7 },
      { ...session, client_reference_id: 88 },
      { ...session, metadata: { autoTopup: 'gb100:20', note: 1 } },
      { ...session, metadata: ['gb100:20'] },
    ]) {
      expect(checkoutOptInOf(event('checkout.session.completed', odd))).toBeUndefined();
    }
    expect(checkoutOptInOf(Buffer.from('{"type":"checkout.session.completed"}'))).toBeUndefined();
  });

  it('validates the autoTopup configuration section with clear messages', () => {
    expect(parseConfig({}).autoTopup).toEqual({
      cooldownHours: 6,
      defaultMaxPerMonth: 3,
      maxDeclines: 3,
      retryBackoffMinutes: 60,
      claimSeconds: 120,
      pendingCheckMinutes: 60,
      pool: 'primary',
      checkoutOptIn: 'created-by-flowpilot',
      actionWaitHours: 24,
    });
    expect(() => parseConfig({ autoTopup: { actionWaitHours: 0 } })).toThrow(
      /autoTopup.actionWaitHours/,
    );
    expect(() => parseConfig({ autoTopup: { actionUrl: 'https://shop.example/pay' } })).toThrow(
      /autoTopup.actionUrl: must contain \{paymentIntentId\} or \{customerId\}/,
    );
    expect(() => parseConfig({ autoTopup: { actionUrl: 'ftp://x/{customerId}' } })).toThrow(
      ConfigError,
    );
    expect(() => parseConfig({ autoTopup: { pool: 'tertiary' } })).toThrow(/autoTopup.pool/);
    expect(() => parseConfig({ autoTopup: { checkoutOptIn: 'all' } })).toThrow(
      /autoTopup.checkoutOptIn/,
    );
    expect(() => parseConfig({ autoTopup: { cooldown: 6 } })).toThrow(
      /autoTopup.cooldown: unknown key/,
    );
  });
});
