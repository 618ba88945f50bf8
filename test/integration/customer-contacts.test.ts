import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  CONFIRM_TOKEN_DAYS,
  ContactConfirmError,
  confirmContact,
  signConfirmToken,
} from '../../functions/commons/customer-notices/confirm.ts';
import {
  CONTACT_RETENTION_DAYS,
  CustomerContactStore,
  maskContact,
  noticeAddresses,
  PENDING_EMAIL_DAYS,
  pendingEmailOf,
} from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import { contactSaver } from '../../functions/commons/payments/contact.ts';
import type { PaymentDeps } from '../../functions/commons/payments/types.ts';
import { useTestTable } from '../helpers/dynamo.ts';
import { usePaymentWebhook } from '../helpers/payments.ts';
import {
  apiEvent,
  checkoutSession,
  standardHeaders,
  standardPayload,
  stripeDelivery,
  stripeEvent,
} from './payments-fixtures.ts';

describe('Class: CustomerContactStore', () => {
  const table = useTestTable('contacts');
  const store = new CustomerContactStore(table.doc, table.tableName);
  const t0 = new Date('2026-12-01T00:00:00Z');

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
      { email: 'payer@example.com', phone: 'not a phone' },
      new Date('2026-12-02T00:00:00Z'),
      'ORDER#stripe#cs_89',
    );
    expect(kept).toEqual({ email: true, phone: false });
    await store.capture(
      '89',
      { email: 'older@example.com' },
      new Date('2026-12-01T12:00:00Z'),
      'ORDER#stripe#cs_89old',
    );
    const c = await store.get('89');
    expect(c).toMatchObject({
      email: 'ops-set@example.com',
      paymentEmail: 'payer@example.com',
      notices: false,
    });
    expect(c?.paymentPhone).toBeUndefined();
    const ops = { email: { to: 'ops-set@example.com', bound: true } };
    expect(c && noticeAddresses(c, undefined)).toEqual(ops);
    expect(c && noticeAddresses(c, 'ORDER#stripe#cs_89')).toEqual(ops);
    await store.capture('90', { phone: '+15551234567' }, t0, 'ORDER#stripe#cs_90');
    const only = await store.get('90');
    // A captured number gets its own payment's receipt, nothing else.
    expect(only && noticeAddresses(only, 'ORDER#stripe#cs_90')).toEqual({
      phone: { to: '+15551234567', bound: false },
    });
    expect(only && noticeAddresses(only, 'ORDER#stripe#cs_other')).toEqual({});
    expect(only && noticeAddresses(only, undefined)).toEqual({});
    expect(only?.notices).toBe(true);
    const many = await store.getMany(['88', '89', '90', '91']);
    expect([...many.keys()].sort()).toEqual(['88', '89', '90']);
  });

  it('keeps a contact for two years after its last change, by DynamoDB TTL', async () => {
    await store.capture('92', { email: 'x@example.org' }, t0, 'ORDER#stripe#cs_92');
    const { Item } = await table.doc.send(
      new GetCommand({ TableName: table.tableName, Key: { pk: 'CUSTOMER#92', sk: 'CONTACT' } }),
    );
    expect(CONTACT_RETENTION_DAYS).toBe(730);
    expect(Item?.expiresAt).toBe(t0.getTime() / 1000 + 730 * 86_400);
  });

  it('lets a pending email expire with its confirmation link, and drops it on the next write', async () => {
    // Prepare
    const later = (d: number) => new Date(t0.getTime() + d * 86_400_000);
    await store.edit('93', { email: 'old@example.net' }, t0);
    await store.requestEmail('93', 'new@example.org', t0);
    await store.edit('94', { email: 'kept@example.net' }, t0);
    await store.requestEmail('94', 'soon@example.org', t0);
    const asked = await store.get('93');

    // Act
    const lapsed = await store.applyEmailChange(
      '93',
      'new@example.org',
      later(PENDING_EMAIL_DAYS + 1),
    );
    await store.edit('93', { reminders: { sms: false } }, later(PENDING_EMAIL_DAYS + 1));
    await store.edit('94', { reminders: { sms: false } }, later(PENDING_EMAIL_DAYS - 1));

    // Assess
    expect(PENDING_EMAIL_DAYS).toBe(CONFIRM_TOKEN_DAYS);
    expect(asked && pendingEmailOf(asked, later(PENDING_EMAIL_DAYS - 1))).toBe('new@example.org');
    expect(asked && pendingEmailOf(asked, later(PENDING_EMAIL_DAYS + 1))).toBeUndefined();
    expect(lapsed).toBe(false);
    const dropped = await store.get('93');
    expect(dropped).toMatchObject({ email: 'old@example.net', reminders: { sms: false } });
    expect(dropped?.pendingEmail).toBeUndefined();
    expect(dropped?.pendingAt).toBeUndefined();
    expect((await store.get('94'))?.pendingEmail).toBe('soon@example.org');
  });

  it('masks addresses and numbers for display', () => {
    expect(maskContact('ada@example.net')).toBe('a***@example.net');
    expect(maskContact('+8613800138000')).toBe('+86***00');
    expect(maskContact(undefined)).toBe('-');
  });
});

describe('payment webhook: payer contact capture', () => {
  const pay = usePaymentWebhook({ table: 'contact-capture', customers: ['88'] });
  const { table } = pay;
  const store = new CustomerContactStore(table.doc, table.tableName);
  const now = new Date();
  const handler = (saveContact: PaymentDeps['saveContact']) =>
    pay.handler({ clock: () => now, ...(saveContact ? { saveContact } : {}) });

  it('keeps Stripe Checkout customer_details’ email and phone after the credit, never the payer’s name', async () => {
    const sessionId = `cs_${randomUUID()}`;
    const session = {
      ...checkoutSession(sessionId, { customerId: '88' }),
      customer_details: { email: 'payer@example.org', phone: '+14155550100', name: 'Ada L' },
    };
    const res = await handler(contactSaver(store))(
      stripeDelivery('stripe', stripeEvent('checkout.session.completed', session)),
    );
    expect(JSON.parse(res.body ?? '').result).toBe('credited');
    const kept = await store.get('88');
    expect(kept).toMatchObject({
      paymentEmail: 'payer@example.org',
      paymentPhone: '+14155550100',
    });
    // Kept under the ledger's order key too: its receipt's credit carries that key.
    expect(kept?.captures[`ORDER#stripe#${sessionId}`]).toMatchObject({
      email: 'payer@example.org',
      phone: '+14155550100',
    });
    expect(JSON.stringify(kept)).not.toContain('Ada L');
  });

  it('keeps Standard Webhooks data.email and data.phone, and a failing save never fails the credit', async () => {
    const paymentId = `ord_${randomUUID()}`;
    const payload = standardPayload('payment.succeeded', {
      paymentId,
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
      [
        '88',
        { email: 'shop-buyer@example.org', phone: '+86 139 0000 0000' },
        now,
        `ORDER#standard#${paymentId}`,
      ],
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

describe('Function: confirmContact', () => {
  const SECRET = 'portal-secret-for-tests-0123456789abcdef';
  const OLD = 'the-previous-portal-secret-0123456789';
  const table = useTestTable('confirm');
  const store = new CustomerContactStore(table.doc, table.tableName);
  const t0 = new Date('2026-12-01T00:00:00Z');
  const days = (n: number) => new Date(t0.getTime() + n * 86_400_000);
  const deps = (secret = SECRET, at = t0) => ({
    contacts: store,
    secret: async () => secret,
    clock: () => at,
  });

  it('ignores a pending address older than its link, even with a later link still valid', async () => {
    // Prepare: asked for at t0; a link for it signed five days later is valid past the pending.
    await store.edit('95', { email: 'was@example.net' }, t0);
    await store.requestEmail('95', 'late@example.org', t0);
    const token = signConfirmToken(SECRET, '95', 'late@example.org', days(5));

    // Act
    const confirming = confirmContact(token, '95', deps(SECRET, days(PENDING_EMAIL_DAYS + 1)));

    // Assess
    await expect(confirming).rejects.toMatchObject({ reason: 'superseded', statusCode: 410 });
    expect((await store.get('95'))?.email).toBe('was@example.net');
  });

  // #28 F1: a payer's address is bound only when the customer types it in full themselves.
  it('refuses a captured address not typed in full on the page, and binds nothing', async () => {
    await store.capture('54', { email: 'eve@example.org' }, t0, 'ORDER#stripe#cs_54');
    const token = signConfirmToken(SECRET, '54', 'eve@example.org', t0);
    for (const typed of [undefined, '', 'e***@example.org', 'eve@example.com']) {
      await expect(confirmContact(token, '54', deps(), typed)).rejects.toMatchObject({
        reason: 'mismatch',
      });
    }
    expect((await store.get('54'))?.confirmedEmail).toBeUndefined();
    await expect(confirmContact(token, '54', deps(), ' EVE@example.org ')).resolves.toMatchObject({
      already: false,
    });
  });

  it('binds the captured email the link names, once, and never one a payment brings later', async () => {
    // Prepare: a payment's email, and the link its receipt carried.
    await store.capture('88', { email: 'ada@example.net' }, t0, 'ORDER#stripe#cs_88');
    const token = signConfirmToken(SECRET, '88', 'ada@example.net', t0);
    expect(token).not.toContain('ada');

    // Act
    const first = await confirmContact(token, '88', deps(), 'Ada@Example.net');
    const again = await confirmContact(token, '88', deps(), 'ada@example.net');
    // A later payment names someone else, whose own link was issued before.
    const stranger = signConfirmToken(SECRET, '88', 'mallory@example.org', t0);
    await store.capture(
      '88',
      { email: 'mallory@example.org' },
      new Date('2026-12-02T00:00:00Z'),
      'ORDER#stripe#cs_88b',
    );

    // Assess
    expect(first).toEqual({ customerId: '88', email: 'a***@example.net', already: false });
    expect(again.already).toBe(true);
    await expect(confirmContact(stranger, '88', deps())).rejects.toMatchObject({
      name: 'ContactConfirmError',
      reason: 'superseded',
      statusCode: 410,
    });
    const c = await store.get('88');
    expect(c).toMatchObject({
      confirmedEmail: 'ada@example.net',
      paymentEmail: 'mallory@example.org',
    });
    expect(c && noticeAddresses(c, 'ORDER#stripe#cs_88')).toEqual({
      email: { to: 'ada@example.net', bound: true },
    });
  });

  it('refuses a link opened on another customer’s page: the address is not the identity', async () => {
    // A payer paid for customer 55 with their own address and got the receipt's link; they
    // can open the customer page only as themselves (99), never as 55.
    await store.capture('55', { email: 'mallory@example.org' }, t0, 'ORDER#stripe#cs_55');
    const token = signConfirmToken(SECRET, '55', 'mallory@example.org', t0);
    await expect(confirmContact(token, '99', deps())).rejects.toMatchObject({ reason: 'invalid' });
    expect((await store.get('55'))?.confirmedEmail).toBeUndefined();
  });

  it('refuses a forged, altered, expired or superseded link, and one for a forgotten contact', async () => {
    await store.capture('77', { email: 'bo@example.net' }, t0, 'ORDER#stripe#cs_77');
    const token = signConfirmToken(SECRET, '77', 'bo@example.net', t0);
    const refusal = (t: string, d = deps(), typed = 'bo@example.net') =>
      confirmContact(t, '77', d, typed).then(
        () => 'confirmed',
        (err: unknown) => (err instanceof ContactConfirmError ? err.reason : String(err)),
      );

    expect(await refusal(token.replace(/^77\./, '78.'))).toBe('invalid');
    expect(
      await refusal(
        signConfirmToken('another-secret-entirely-0123456789', '77', 'bo@example.net', t0),
      ),
    ).toBe('invalid');
    expect(await refusal(`${token}x`)).toBe('invalid');
    expect(await refusal('')).toBe('invalid');
    const late = new Date(t0.getTime() + 15 * 86_400_000);
    expect(await refusal(token, deps(SECRET, late))).toBe('expired');
    // Another address captured since: the link no longer applies.
    await store.capture(
      '77',
      { email: 'bo2@example.net' },
      new Date('2026-12-01T01:00:00Z'),
      'ORDER#stripe#cs_77b',
    );
    expect(await refusal(token)).toBe('superseded');
    // Rotation: a link signed with the previous key still works while both are put.
    const old = signConfirmToken(OLD, '77', 'bo2@example.net', t0);
    expect(await refusal(old, deps(`${SECRET} ${OLD}`), 'bo2@example.net')).toBe('confirmed');
    // Forgotten: nothing is left to confirm.
    await store.capture('76', { email: 'cy@example.net' }, t0, 'ORDER#stripe#cs_76');
    const cy = signConfirmToken(SECRET, '76', 'cy@example.net', t0);
    await store.erase('76', t0);
    await expect(confirmContact(cy, '76', deps())).rejects.toMatchObject({
      reason: 'superseded',
    });
    // A short key is refused outright.
    await expect(confirmContact(token, '77', deps('short'))).rejects.toThrow(
      'every PORTAL_SECRET key must be at least 32 characters',
    );
  });
});
