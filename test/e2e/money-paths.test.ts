import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_DEV_SECRETS } from '../../local/runtime/env.ts';
import { type LocalRun, startLocal, stopGroup } from '../helpers/npm-start.ts';
import {
  epayNotify,
  epayParams,
  stripeEvent,
  stripeHeaders,
} from '../integration/payments-fixtures.ts';

/** `npm start` with a configuration that sells a usd and a cny package and names the epay pid. */
function start(): Promise<LocalRun> {
  const dir = mkdtempSync(join(tmpdir(), 'fp-e2e-money-'));
  const configPath = join(dir, 'flowpilot.config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      payments: {
        catalog: {
          'demo-10gb': { gb: 10, price: 500, currency: 'usd' },
          cn5: { gb: 5, price: 3000, currency: 'cny' },
        },
        epay: { pid: '1001' },
      },
    }),
  );
  return startLocal({ dataDir: join(dir, 'data'), env: { FLOWPILOT_CONFIG: configPath } });
}

interface SimMove {
  customerId: string;
  trafficGb: string;
}

describe('local runtime end to end: money paths through npm start', () => {
  let run: LocalRun | undefined;
  beforeAll(async () => {
    run = await start();
  }, 120_000);
  afterAll(() => stopGroup(run));

  const simRead = async (what: 'ledger' | 'deductions', customerId: string) => {
    const rows = (await (await fetch(`${run?.sim}_sim/${what}`)).json()) as SimMove[];
    return rows.filter((r) => r.customerId === customerId).map((r) => Number(r.trafficGb));
  };

  it('credits an epay notification sent by GET once and answers plain success', async () => {
    // Prepare: 彩虹易支付 notifies by GET with the signed parameters in the query string.
    const params = epayParams(
      epayNotify({ out_trade_no: `shop-${randomBytes(6).toString('hex')}`, param: '1002:cn5' }),
      LOCAL_DEV_SECRETS.EPAY_KEY,
    );
    const url = `${run?.base}/webhooks/epay?${new URLSearchParams(params)}`;

    // Act: epay retries until it reads `success`; a second notification must not credit.
    const first = await fetch(url);
    const second = await fetch(url);

    // Assess
    expect([first.status, await first.text(), second.status, await second.text()]).toEqual([
      200,
      'success',
      200,
      'success',
    ]);
    expect(await simRead('ledger', '1002')).toEqual([5]);
  });

  it('ends a refund delivered before its paid event with net traffic = paid − refunded', async () => {
    // Prepare: 10 GB for 5 usd; 2 usd refunded before the payment is known, 1 usd after.
    const id = `cs_e2e_${randomBytes(6).toString('hex')}`;
    const pi = `pi_${id}`;
    const secret = LOCAL_DEV_SECRETS.STRIPE_WEBHOOK_SECRET;
    const deliver = async (type: string, object: Record<string, unknown>) => {
      const payload = stripeEvent(type, object);
      const res = await fetch(`${run?.base}/webhooks/stripe`, {
        method: 'POST',
        headers: stripeHeaders(payload, { secret }),
        body: payload,
      });
      return { status: res.status, body: (await res.json()) as { result?: string } };
    };
    const refund = (total: number) =>
      deliver('charge.refunded', {
        id: `ch_${id}`,
        object: 'charge',
        amount: 500,
        amount_refunded: total,
        currency: 'usd',
        payment_intent: pi,
      });

    // Act
    const early = await refund(200);
    const paid = await deliver('checkout.session.completed', {
      id,
      object: 'checkout.session',
      payment_status: 'paid',
      amount_total: 500,
      amount_subtotal: 500,
      currency: 'usd',
      client_reference_id: '1003',
      metadata: { package: 'demo-10gb' },
      payment_intent: pi,
    });
    const late = await refund(300);

    // Assess: 10 GB × (500 − 300) / 500 = 4 GB net.
    expect([early, paid, late]).toEqual([
      { status: 200, body: { received: true, result: 'recorded-before-payment' } },
      { status: 200, body: { received: true, result: 'credited' } },
      { status: 200, body: { received: true, result: 'deducted' } },
    ]);
    const credited = await simRead('ledger', '1003');
    const deducted = await simRead('deductions', '1003');
    expect({ credited, deducted }).toEqual({ credited: [6], deducted: [2] });
    expect(credited.reduce((a, b) => a + b, 0) - deducted.reduce((a, b) => a + b, 0)).toBe(4);
  });
});
