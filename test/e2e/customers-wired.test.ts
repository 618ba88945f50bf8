import { describe, expect, it } from 'vitest';
import { deriveOrderId } from '../../functions/commons/payments/catalog.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import { run } from '../../local/cli/main.ts';
import { Captured } from '../helpers/cli.ts';
import { ROOT, stripeStandInOf, useLocalRuns } from '../helpers/npm-start.ts';

/**
 * poll-customers as `functions/poll-customers.ts` composes it, through `npm start`: the
 * customer notices and auto top-up listen to the real balance computation (nothing is fed
 * to them by hand), against the simulator and the Stripe stand-in.
 */
describe('customer balances wired to notices and auto top-up: npm start', () => {
  const startLocal = useLocalRuns();

  it('sends one zh-CN running-low notice and charges one auto top-up, credited once', {
    timeout: 240_000,
  }, async () => {
    // Prepare: npm start on free ports, a fresh data folder, the built-in Stripe stand-in
    const running = await startLocal({ text: '  try ' });
    const output = running.output();
    expect(output).toMatch(/built-in Stripe stand-in at http:\/\/127\.0\.0\.1:\d+/);
    // The stand-in's key is random per run; the banner prints it.
    const { url: standIn, key: standInKey } = stripeStandInOf(output);
    const paymentIntents = async () =>
      (
        (await (
          await fetch(`${standIn}/v1/payment_intents?customer=cus_local`, {
            headers: { authorization: `Bearer ${standInKey}` },
          })
        ).json()) as {
          data: { id: string; status: string; amount: number; metadata: Record<string, string> }[];
        }
      ).data;
    const sim = (path: string) => new URL(path, running.sim).href;
    const poll = async (name: string) => {
      const res = await running.invoke(name);
      expect(res, `${name}\n${running.output()}`).toMatchObject({
        status: 200,
        body: { ok: true },
      });
      return res.body;
    };
    const use = async (customerId: string, gb: string) => {
      const res = await fetch(sim('/_sim/customers/use'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ customerId, downloadMb: gbToMb(gb).toFixed() }),
      });
      expect(res.status).toBe(200);
    };
    const out = new Captured();
    const io = { stdout: out, stderr: out, env: { ...running.env, USER: 'e2e' }, cwd: ROOT };
    const cli = async (args: string[]) => {
      out.text = '';
      const code = await run(args, io);
      expect(code, `flowpilot ${args.join(' ')}\n${out.text}`).toBe(0);
      return out.text;
    };
    const outbox = async (customerId: string) =>
      (
        JSON.parse(await cli(['outbox', '--customer', customerId, '--json'])) as {
          entries: {
            kind: string;
            locale: string;
            channel: string;
            status: string;
            text: string;
          }[];
        }
      ).entries;
    const simLedger = async () =>
      (await (await fetch(sim('/_sim/ledger'))).json()) as {
        orderId: string;
        customerId: string;
        trafficGb: string;
      }[];

    // Act 1: a contact for 1002; usage and the first (backfill) balance run, which hands the
    // listeners nothing; then both customers get a known opening balance of 30 GB.
    await cli(['customer', 'contact', '1002', '--email', 'lin@example.net', '--locale', 'zh-CN']);
    await poll('poll-totals');
    await poll('poll-usage');
    // The backfill run through the operator CLI, as `flowpilot invoke poll-customers`.
    expect(await cli(['invoke', 'poll-customers'])).toMatch(/^poll-customers: ok in [\d.]+ s\n$/);
    const afterBackfill = await outbox('1002');
    await cli(['customer', 'calibrate', '1002', '--gb', '30']);
    await cli(['customer', 'calibrate', '1003', '--gb', '30']);
    // A console top-up in the very second of a calibration (the upstream stamps records to
    // the second) was not in the operator's figure: it counts.
    // (A timer may fire a millisecond early: aim just past the start of the next second.)
    await new Promise((r) => setTimeout(r, 1020 - (Date.now() % 1000)));
    const calibratedAt = Date.now();
    await cli(['customer', 'calibrate', '1004', '--gb', '30']);
    await fetch(sim('/_sim/customers/topup'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: '1004', mb: '1024' }),
    });
    const sameSecond = Math.floor(calibratedAt / 1000) === Math.floor(Date.now() / 1000);
    await poll('poll-customers');
    const afterCalibrate = await outbox('1002');

    // Act 2: 1003 opts in to auto top-up below 10 GB; both customers use 25 GB in the
    // simulator; the next polls see them at 5 GB.
    const opt = ['autotopup', 'set', '1003', '--package', 'demo-10gb', '--below-gb', '10'];
    await cli([...opt, '--payment-method', 'pm_card_visa', '--stripe-customer', 'cus_local']);
    await use('1002', '25');
    await use('1003', '25');
    await poll('poll-usage');
    await poll('poll-customers');

    const lowFigures = (
      JSON.parse(await cli(['customers', '--json'])) as {
        customers: { customerId: string; daysLeft: number | null }[];
      }
    ).customers.find((c) => c.customerId === '1002');

    // Assess 1: exactly one running-low notice for 1002, by email, in Chinese
    expect(afterBackfill).toEqual([]);
    expect(afterCalibrate).toEqual([]);
    const low = await outbox('1002');
    // Local delivery prints (CUSTOMER_NOTICES_DELIVERY unset), masking the address.
    expect(low).toEqual([
      expect.objectContaining({
        kind: 'running-low',
        channel: 'email',
        locale: 'zh-CN',
        status: 'printed',
        to: 'l***@example.net',
      }),
    ]);
    // Under a day left at 1002's burn: the notice says so, not "about 0 days".
    expect(lowFigures?.daysLeft).toBeGreaterThan(0);
    expect(lowFigures?.daysLeft).toBeLessThan(1);
    expect(low[0]?.text).toContain('您的流量余额为 5 GB，按当前用量可使用不足 1 天。');

    // Assess 2: one PaymentIntent for 1003, whose signed webhook credits the simulator once
    const shown = JSON.parse(await cli(['autotopup', 'show', '1003', '--json'])) as {
      episode?: { paymentIntentId?: string };
    };
    const pi = shown.episode?.paymentIntentId ?? '';
    expect(pi, JSON.stringify(shown)).toMatch(/^pi_/);
    expect(await paymentIntents()).toEqual([
      expect.objectContaining({
        id: pi,
        status: 'succeeded',
        metadata: expect.objectContaining({
          customerId: '1003',
          package: 'demo-10gb',
          flowpilot: 'autotopup',
        }),
      }),
    ]);
    const orderId = deriveOrderId('stripe', pi);
    let ledger = await simLedger();
    for (let i = 0; i < 40 && !ledger.some((l) => l.orderId === orderId); i++) {
      await new Promise((r) => setTimeout(r, 250));
      ledger = await simLedger();
    }
    expect(ledger.filter((l) => l.customerId === '1003')).toEqual([
      expect.objectContaining({ orderId, trafficGb: '10' }),
    ]);

    // Act 3: 1002 uses 2 GB more (still low, same episode); the next balance run sees that
    // and 1003's credit (ending its episode); one more run after it
    await use('1002', '2');
    await poll('poll-usage');
    const credited = await poll('poll-customers');
    await poll('poll-customers');

    // Assess 3: nothing more is charged or sent; the history shows every step
    expect(credited).toMatchObject({ result: { outcome: { listenerFailures: [] } } });
    expect(await paymentIntents()).toHaveLength(1);
    expect((await simLedger()).filter((l) => l.customerId === '1003')).toHaveLength(1);
    expect(await outbox('1002')).toHaveLength(1);
    const history = JSON.parse(await cli(['autotopup', 'history', '1003', '--json'])) as {
      event: string;
    }[];
    expect(history.map((l) => l.event).reverse(), JSON.stringify(history)).toEqual([
      'on',
      'episode',
      'charged',
      'credited',
    ]);
    const customers = JSON.parse(await cli(['customers', '--json'])) as {
      customers: { customerId: string; balanceMb: string }[];
    };
    const balance = (id: string) => customers.customers.find((c) => c.customerId === id);
    expect(balance('1003')?.balanceMb).toBe(gbToMb('15').toFixed());
    expect(balance('1002')?.balanceMb).toBe(gbToMb('3').toFixed());
    expect(sameSecond, 'calibration and top-up in one second').toBe(true);
    expect(balance('1004')?.balanceMb).toBe(gbToMb('31').toFixed());
  });
});
