import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stripeClient } from '../../functions/commons/clients/stripe.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { stripeCheckout } from '../../functions/commons/portal/stripe-checkout.ts';
import { portalKeys, signToken } from '../../functions/commons/portal/tokens.ts';
import { createPortalHandler } from '../../functions/portal.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import {
  csrfOf,
  KEY,
  portalDeps,
  portalEvent,
  type Result,
  seedCustomer,
  sessionOf,
} from '../helpers/portal.ts';

/*
 * The Buy button against a minimal `POST /v1/checkout/sessions` endpoint in this file: the
 * local Stripe stand-in of this branch has none yet (issue #28 point 9 adds it elsewhere).
 * It answers as Stripe does for a created session and keeps what it was sent.
 */

const NOW = new Date('2026-11-20T04:00:00.000Z');
const CATALOG = {
  'gb-10': { gb: '10', price: 500, currency: 'usd' },
  'gb-50-cny': { gb: '50', price: 19900, currency: 'cny' },
};
const CONFIG = { payments: { providers: ['stripe' as const], catalog: CATALOG } };

let table: TestTable;
let stripe: Server;
let stripeBase: string;
const received: { path: string; body: URLSearchParams; auth: string | undefined }[] = [];
let handle: ReturnType<typeof createPortalHandler>;

async function call(...args: Parameters<typeof portalEvent>): Promise<Result> {
  return (await handle(portalEvent(...args))) as Result;
}

async function signIn(customerId: string, headers: Record<string, string> = {}) {
  const token = signToken(portalKeys(KEY), 'link', {
    customerId,
    version: 0,
    expires: Math.floor(NOW.getTime() / 1000) + 86_400,
  });
  const session = sessionOf(await call('GET', `/portal/open?token=${token}`)) ?? '';
  const page = await call('GET', '/portal/me', {
    cookies: { '__Host-fp_portal': session },
    headers,
  });
  return { session, csrf: csrfOf(page.body), page };
}

beforeAll(async () => {
  table = await createTestTable('portal-buy');
  for (const customerId of ['1001', '1002']) {
    await seedCustomer(table.doc, table.tableName, {
      customerId,
      account: `c${customerId}@example.com`,
      openingGb: 10,
      dailyMb: 512,
      days: 12,
      now: NOW,
    });
  }
  let n = 0;
  stripe = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({
        path: `${req.method} ${req.url}`,
        body: new URLSearchParams(body),
        auth: req.headers.authorization,
      });
      const id = `cs_test_${++n}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ id, object: 'checkout.session', url: `${stripeBase}/checkout/pay/${id}` }),
      );
    });
  });
  await new Promise<void>((r) => stripe.listen(0, '127.0.0.1', r));
  stripeBase = `http://127.0.0.1:${(stripe.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await new Promise<void>((r) => stripe?.close(() => r()));
  table?.client.destroy();
});

beforeEach(() => {
  received.length = 0;
  const config = parseConfig(CONFIG);
  handle = createPortalHandler(() =>
    portalDeps(table.doc, table.tableName, {
      now: () => NOW,
      config: CONFIG,
      checkout: stripeCheckout({
        stripe: async () => stripeClient('sk_test_portal', stripeBase, { retryDelayMs: 1 }),
        catalog: config.payments.catalog,
        origin: stripeBase,
      }),
    }),
  );
});

describe('portal: Buy', () => {
  it('lists the packages with their price in major units and lets checkout pages be reached', async () => {
    // Act
    const { page } = await signIn('1001');
    const zh = await signIn('1001', { 'accept-language': 'zh-CN' });

    // Assess
    expect(page.body).toContain('10 GB · $5.00');
    expect(page.body).toContain('50 GB · CN¥199.00');
    expect(zh.page.body).toContain('购买');
    expect(page.headers['content-security-policy']).toContain(`form-action 'self' ${stripeBase}`);
  });

  it('creates a Checkout Session for the signed-in customer, whatever the form says, and redirects to it', async () => {
    // Prepare
    const { session, csrf } = await signIn('1001');

    // Act
    const res = await call('POST', '/portal/buy', {
      cookies: { '__Host-fp_portal': session },
      form: { csrf, package: 'gb-10', customerId: '1002', client_reference_id: '1002' },
    });

    // Assess
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`${stripeBase}/checkout/pay/cs_test_1`);
    expect(received).toHaveLength(1);
    const sent = received[0];
    expect(sent?.path).toBe('POST /v1/checkout/sessions');
    expect(sent?.auth).toBe('Bearer sk_test_portal');
    expect(Object.fromEntries(sent?.body ?? [])).toEqual({
      mode: 'payment',
      client_reference_id: '1001',
      success_url: 'https://portal.example.test/portal/me?m=paid',
      cancel_url: 'https://portal.example.test/portal/me?m=canceled',
      'line_items[0][quantity]': '1',
      'line_items[0][price_data][currency]': 'usd',
      'line_items[0][price_data][unit_amount]': '500',
      'line_items[0][price_data][product_data][name]': '10 GB for customer 1001',
      'metadata[package]': 'gb-10',
      'metadata[customerId]': '1001',
      'metadata[createdBy]': 'flowpilot-portal',
    });
  });

  it('asks Stripe to save the card when the customer ticks automatic top-up', async () => {
    // Prepare
    const { session, csrf } = await signIn('1002');

    // Act
    const res = await call('POST', '/portal/buy', {
      cookies: { '__Host-fp_portal': session },
      form: { csrf, package: 'gb-50-cny', auto: 'on', belowGb: '20' },
    });

    // Assess
    expect(res.statusCode).toBe(303);
    const body = received[0]?.body;
    expect(body?.get('payment_intent_data[setup_future_usage]')).toBe('off_session');
    expect(body?.get('metadata[autoTopup]')).toBe('gb-50-cny:20');
    expect(body?.get('client_reference_id')).toBe('1002');
  });

  it('refuses an unknown package or a bad threshold without calling Stripe', async () => {
    // Prepare
    const { session, csrf } = await signIn('1001');

    // Act
    const unknown = await call('POST', '/portal/buy', {
      cookies: { '__Host-fp_portal': session },
      form: { csrf, package: '__proto__' },
    });
    const badThreshold = await call('POST', '/portal/buy', {
      cookies: { '__Host-fp_portal': session },
      form: { csrf, package: 'gb-10', auto: 'on', belowGb: '1e9' },
    });

    // Assess
    expect(unknown.statusCode).toBe(404);
    expect(badThreshold.statusCode).toBe(400);
    expect(received).toEqual([]);
  });

  it('opens at most 5 Checkout Sessions per customer per hour', async () => {
    // Prepare
    handle = createPortalHandler(() =>
      portalDeps(table.doc, table.tableName, {
        now: () => new Date(NOW.getTime() + 7_200_000),
        config: CONFIG,
        checkout: stripeCheckout({
          stripe: async () => stripeClient('sk_test_portal', stripeBase, { retryDelayMs: 1 }),
          catalog: parseConfig(CONFIG).payments.catalog,
          origin: stripeBase,
        }),
      }),
    );
    const token = signToken(portalKeys(KEY), 'link', {
      customerId: '1001',
      version: 0,
      expires: Math.floor(NOW.getTime() / 1000) + 86_400,
    });
    const session = sessionOf(await call('GET', `/portal/open?token=${token}`)) ?? '';
    const page = await call('GET', '/portal/me', { cookies: { '__Host-fp_portal': session } });
    const csrf = csrfOf(page.body);

    // Act
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await call('POST', '/portal/buy', {
        cookies: { '__Host-fp_portal': session },
        form: { csrf, package: 'gb-10' },
      });
      statuses.push(r.statusCode);
    }

    // Assess
    expect(statuses).toEqual([303, 303, 303, 303, 303, 429]);
    expect(received).toHaveLength(5);
  });
});
