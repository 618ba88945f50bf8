import { randomUUID } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { contactSaver } from '../../functions/commons/payments/contact.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import {
  CustomerContactStore,
  effectiveEmail,
  effectivePhone,
  maskContact,
} from '../../functions/commons/store/customer-contacts.ts';
import { DynamoLedger } from '../../functions/commons/store/ledger.ts';
import { createPaymentWebhookHandler } from '../../functions/payment-webhook.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';
import {
  apiEvent,
  checkoutSession,
  getTestSecret,
  RecordingSink,
  standardHeaders,
  standardPayload,
  stripeDelivery,
  stripeEvent,
  testPaymentsConfig,
} from './payments-fixtures.ts';

const fx = useSimulator();

describe('Class: CustomerContactStore', () => {
  let table: TestTable;
  let store: CustomerContactStore;
  const t0 = new Date('2026-12-01T00:00:00Z');

  beforeAll(async () => {
    table = await createTestTable('contacts');
    store = new CustomerContactStore(table.doc, table.tableName);
  });

  it('keeps what the operator sets, normalised, and refuses what cannot be used', async () => {
    const saved = await store.edit(
      '88',
      {
        email: ' Ada@Example.NET ',
        phone: '+86 138-0013-8000',
        locale: 'zh-CN',
        timeZone: 'Asia/Shanghai',
        lowThresholds: { gb: 2, daysLeft: 0 },
      },
      t0,
    );
    expect(saved).toMatchObject({
      customerId: '88',
      email: 'Ada@example.net',
      phone: '+8613800138000',
      locale: 'zh-CN',
      timeZone: 'Asia/Shanghai',
      notices: true,
      lowThresholds: { gb: 2, daysLeft: 0 },
    });
    await expect(store.edit('88', { email: 'not an address' }, t0)).rejects.toThrow(
      'email must be an address like name@example.com',
    );
    await expect(store.edit('88', { phone: '0138 0013 8000' }, t0)).rejects.toThrow(/E\.164/);
    await expect(store.edit('88', { timeZone: 'Mars/Olympus' }, t0)).rejects.toThrow(
      'unknown time zone: Mars/Olympus',
    );
    // Refused edits changed nothing; clearing an override falls back to the default.
    const after = await store.edit('88', { notices: false, lowThresholds: { gb: null } }, t0);
    expect(after).toMatchObject({
      email: 'Ada@example.net',
      notices: false,
      lowThresholds: { daysLeft: 0 },
    });
    expect(after.lowThresholds.gb).toBeUndefined();
  });

  it('keeps a payment’s contact apart: never over the operator’s, never older over newer', async () => {
    await store.edit('89', { email: 'ops-set@example.com', notices: false }, t0);
    const kept = await store.capture(
      '89',
      { email: 'payer@example.com', phone: 'not a phone', name: 'Bo' },
      new Date('2026-12-02T00:00:00Z'),
    );
    expect(kept).toEqual({ email: true, phone: false, name: true });
    await store.capture('89', { email: 'older@example.com' }, new Date('2026-12-01T12:00:00Z'));
    const c = await store.get('89');
    expect(c).toMatchObject({
      email: 'ops-set@example.com',
      paymentEmail: 'payer@example.com',
      paymentName: 'Bo',
      notices: false,
    });
    expect(c?.paymentPhone).toBeUndefined();
    expect(c && effectiveEmail(c)).toBe('ops-set@example.com');
    await store.capture('90', { phone: '+15551234567' }, t0);
    const only = await store.get('90');
    expect(only && effectivePhone(only)).toBe('+15551234567');
    expect(only?.notices).toBe(true);
    const many = await store.getMany(['88', '89', '90', '91']);
    expect([...many.keys()].sort()).toEqual(['88', '89', '90']);
  });

  it('masks addresses and numbers for display', () => {
    expect(maskContact('ada@example.net')).toBe('a***@example.net');
    expect(maskContact('+8613800138000')).toBe('+86***00');
    expect(maskContact(undefined)).toBe('-');
  });
});

describe('payment webhook: payer contact capture', () => {
  let table: TestTable;
  let store: CustomerContactStore;
  const now = new Date();

  beforeAll(async () => {
    table = await createTestTable('contact-capture');
    store = new CustomerContactStore(table.doc, table.tableName);
  });
  beforeEach(() => {
    fx.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
    fx.sim.addCustomer({ customerId: '88' });
  });

  function handler(saveContact: PaymentDeps['saveContact']) {
    const deps: PaymentDeps = {
      ledger: new DynamoLedger(table.doc, table.tableName),
      upstream: fx.client({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 2 } }),
      sink: new RecordingSink(),
      clock: () => now,
      config: testPaymentsConfig(),
      getSecret: getTestSecret,
      ...(saveContact ? { saveContact } : {}),
    };
    return createPaymentWebhookHandler(
      async () => deps,
      () => deps.config,
    );
  }

  it('keeps Stripe Checkout customer_details after the credit', async () => {
    const session = {
      ...checkoutSession(`cs_${randomUUID()}`, { customerId: '88' }),
      customer_details: { email: 'payer@example.org', phone: '+14155550100', name: 'Ada L' },
    };
    const res = await handler(contactSaver(store))(
      stripeDelivery('stripe', stripeEvent('checkout.session.completed', session)),
    );
    expect(JSON.parse(res.body ?? '').result).toBe('credited');
    expect(await store.get('88')).toMatchObject({
      paymentEmail: 'payer@example.org',
      paymentPhone: '+14155550100',
      paymentName: 'Ada L',
    });
  });

  it('keeps Standard Webhooks data.email and data.phone, and a failing save never fails the credit', async () => {
    const payload = standardPayload('payment.succeeded', {
      paymentId: `ord_${randomUUID()}`,
      customerId: 88,
      package: 'gb10',
      amount: 1000,
      currency: 'usd',
      email: 'shop-buyer@example.org',
      phone: '+86 139 0000 0000',
    });
    const saved: unknown[] = [];
    const ok = await handler(async (...args) => saved.push(args))(
      apiEvent('standard', payload, standardHeaders(payload)),
    );
    expect(JSON.parse(ok.body ?? '').result).toBe('credited');
    expect(saved).toEqual([
      ['88', { email: 'shop-buyer@example.org', phone: '+86 139 0000 0000' }, now],
    ]);

    const other = standardPayload('payment.succeeded', {
      paymentId: `ord_${randomUUID()}`,
      customerId: 88,
      package: 'gb10',
      amount: 1000,
      currency: 'usd',
      email: 'x@example.org',
    });
    const res = await handler(async () => {
      throw new Error('DynamoDB is down');
    })(apiEvent('standard', other, standardHeaders(other)));
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body ?? '').result).toBe('credited');

    // A contact of the wrong type is ignored, never a malformed payment.
    const odd = standardPayload('payment.succeeded', {
      paymentId: `ord_${randomUUID()}`,
      customerId: 88,
      package: 'gb10',
      amount: 1000,
      currency: 'usd',
      email: 42,
      phone: null,
    });
    const kept: unknown[] = [];
    const third = await handler(async (...args) => kept.push(args))(
      apiEvent('standard', odd, standardHeaders(odd)),
    );
    expect(JSON.parse(third.body ?? '').result).toBe('credited');
    expect(kept).toEqual([]);
  });
});
