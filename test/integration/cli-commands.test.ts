import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import type { Config } from '../../functions/commons/config/schema.ts';
import { deriveOrderId } from '../../functions/commons/payments/catalog.ts';
import {
  DynamoLedger,
  ledgerKeys,
  type NewOrder,
} from '../../functions/commons/payments/ledger/ledger.ts';
import { ReportStore } from '../../functions/commons/reconcile/report-store.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import type { UsageRowInput } from '../../local/simulator/index.ts';
import { type CliHarness, cliHarness } from '../helpers/cli.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';
import { RecordingSink } from './payments-fixtures.ts';

const fx = useSimulator();

// 04:00 UTC is noon in Asia/Shanghai: "today" upstream is 2026-03-10.
const NOW = new Date('2026-03-10T04:00:00.000Z');
const TODAY = '2026-03-10';
const YESTERDAY = '2026-03-09';

const config: Config = parseConfig({
  payments: {
    catalog: {
      gb10: { gb: 10, price: 1000, currency: 'usd' },
      tb5: { gb: 5000, price: 200_000, currency: 'usd' },
    },
    leaseSeconds: 60,
  },
  upstream: { retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } },
  polling: { pageSize: 50, maxPagesInFlight: 2 },
});

interface Harness extends CliHarness {
  sink: RecordingSink;
}

/** The CLI on `table` and the simulator, at NOW unless `clock` says otherwise. */
function harness(table: TestTable, opts: { clock?: () => Date; upstream?: boolean } = {}): Harness {
  const sink = new RecordingSink();
  const upstream = opts.upstream === false ? {} : { upstream: () => fx.client() };
  return {
    ...cliHarness(table, { config, clock: opts.clock ?? (() => NOW), sink, ...upstream }),
    sink,
  };
}

function order(paymentId: string, extra: Partial<NewOrder> = {}): NewOrder {
  return {
    provider: 'stripe',
    paymentId,
    orderId: deriveOrderId('stripe', paymentId),
    state: 'RECEIVED',
    customerId: '88',
    packageId: 'gb10',
    quantity: 1,
    gb: '10',
    amountMinor: 1000,
    currency: 'usd',
    ...extra,
  };
}

describe('flowpilot commands (DynamoDB Local + simulator)', () => {
  let table: TestTable;
  let h: Harness;

  beforeAll(async () => {
    table = await createTestTable('cli');
  });

  beforeEach(() => {
    fx.sim.setNow(NOW);
    h = harness(table);
  });

  describe('status', () => {
    it('shows residual GB and %, days left at the 7-day burn, the last poll and open alerts', async () => {
      // Prepare
      const ctx = h.context();
      const at = '2026-03-10T03:55:00.000Z';
      await ctx.stores.snapshots.put([
        {
          pool: 'primary',
          at,
          pollId: 'p1',
          rechargedMb: gbToMb(1000),
          consumedMb: gbToMb(800),
          residualMb: gbToMb(200),
        },
        {
          pool: 'secondary',
          at,
          pollId: 'p1',
          rechargedMb: gbToMb(5120),
          consumedMb: gbToMb(0),
          residualMb: gbToMb(5120),
        },
      ]);
      // 7 full days of 20 GB each (10 up, 10 down): 200 GB / 20 GB = 10 days left.
      const days = ['03', '04', '05', '06', '07', '08', '09'].map((d) => ({
        day: `2026-03-${d}`,
        uploadMb: gbToMb(10),
        downloadMb: gbToMb(10),
      }));
      await ctx.stores.series.putConsume(days, NOW);
      // The secondary pool burns the NNI series: 512 GB a day, 5,120 GB left = 10 days.
      await ctx.stores.series.putNni(
        days.map((d) => ({ day: d.day, flowMb: gbToMb(512) })),
        NOW,
      );
      await ctx.stores.pollState.recordSuccess('poll-totals', new Date(at));
      await new AlertStateStore({ tableName: table.tableName, client: table.doc }).save(
        {
          rule: 'low-residual',
          subject: 'primary',
          status: 'warning',
          version: 1,
          openedAt: new Date(at),
          summary: 'primary pool below 250 GB',
          updatedAt: new Date(at),
        },
        undefined,
      );

      // Act
      const code = await h.cli('status', '--json');

      // Assess
      expect(code).toBe(0);
      const out = h.json() as {
        pools: Record<string, unknown>[];
        polls: { totals: { lastSuccessAt: string } };
        openAlerts: { rule: string; status: string }[];
      };
      expect(out.pools).toEqual([
        expect.objectContaining({
          pool: 'primary',
          residualGb: '200',
          residualPercent: '20',
          burnGbPerDay: '20',
          burnBasis: '7-day average',
          daysLeft: '10',
        }),
        expect.objectContaining({
          pool: 'secondary',
          residualPercent: '100',
          burnGbPerDay: '512',
          daysLeft: '10',
        }),
      ]);
      expect(out.polls.totals.lastSuccessAt).toBe(at);
      expect(out.openAlerts).toEqual([
        expect.objectContaining({ rule: 'low-residual', status: 'warning' }),
      ]);

      expect(await h.cli('status')).toBe(0);
      expect(h.stdout.text).toMatch(/primary\s+200 GB\s+20\.0%\s+10\.0\s+20 GB/);
      expect(h.stdout.text).toMatch(/secondary\s+5,120 GB\s+100\.0%\s+10\.0\s+512 GB/);
      expect(h.stdout.text).toContain('last totals poll:');
      expect(h.stdout.text).toContain('2026-03-10 03:55 UTC (5 min ago)');
      expect(h.stdout.text).toMatch(/warning\s+low-residual\s+primary/);
    });
  });

  describe('orders and order', () => {
    it('lists by state, shows one order with its deductions, and exits 3 for none', async () => {
      // Prepare
      const ledger = new DynamoLedger(table.doc, table.tableName);
      await ledger.createOrder(order('cs_list_held', { state: 'HELD', reason: 'order-max' }), {
        now: new Date('2026-03-10T01:00:00Z'),
      });
      await ledger.createOrder(order('cs_list_ok'), { now: new Date('2026-03-10T02:00:00Z') });
      await ledger.markCredited(
        { provider: 'stripe', paymentId: 'cs_list_ok' },
        { now: new Date('2026-03-10T02:00:01Z'), code: 200, message: 'ok' },
      );
      await ledger.recordPart(
        { provider: 'stripe', paymentId: 'cs_list_ok' },
        {
          partId: 're_1',
          state: 'SKIPPED',
          kind: 'refund',
          gb: '0',
          minor: 0,
          reason: 'already-covered',
        },
        NOW,
      );

      // Act
      const held = await h.cli('orders', '--state', 'held', '--json');
      const heldOrders = (h.json() as { orders: { paymentId: string; state: string }[] }).orders;
      const all = await h.cli('orders');
      const allText = h.stdout.text;
      const one = await h.cli('order', 'ORDER#stripe#cs_list_ok');
      const oneText = h.stdout.text;
      const parts = await h.cli('orders', '--state', 'SKIPPED', '--json');
      const partList = (h.json() as { parts: { partId: string; order: unknown }[] }).parts;
      const missing = await h.cli('order', 'stripe:cs_nope');

      // Assess
      expect(held).toBe(0);
      expect(heldOrders.map((o) => [o.paymentId, o.state])).toEqual([['cs_list_held', 'HELD']]);
      expect(all).toBe(0);
      // Newest change first.
      expect(allText.indexOf('stripe:cs_list_ok')).toBeLessThan(
        allText.indexOf('stripe:cs_list_held'),
      );
      expect(one).toBe(0);
      expect(oneText).toMatch(/state:\s+CREDITED/);
      expect(oneText).toMatch(/credit:\s+10 GB/);
      expect(oneText).toMatch(/deductions \(1\):\nPART.*\nre_1\s+refund\s+SKIPPED/);
      expect(parts).toBe(0);
      expect(partList).toEqual([
        expect.objectContaining({
          partId: 're_1',
          order: { provider: 'stripe', paymentId: 'cs_list_ok' },
        }),
      ]);
      expect(missing).toBe(3);
      expect(h.stderr.text).toBe('flowpilot order: no order stripe:cs_nope\n');
    });
  });

  describe('usage', () => {
    it("prints a customer's days as a table, CSV with exact MB, and JSON", async () => {
      // Prepare
      const ctx = h.context();
      await ctx.stores.usage.put(
        [
          {
            customerId: '501',
            day: '2026-03-01',
            userName: 'a,b@x',
            uploadMb: gbToMb(1),
            downloadMb: gbToMb('1.5'),
          },
          {
            customerId: '501',
            day: '2026-03-02',
            userName: 'a,b@x',
            uploadMb: gbToMb(0),
            downloadMb: gbToMb(2),
          },
          {
            customerId: '501',
            day: '2026-03-05',
            userName: 'a,b@x',
            uploadMb: gbToMb(9),
            downloadMb: gbToMb(9),
          },
        ],
        NOW,
      );

      // Act
      const twoDays = ['usage', '--customer', '501', '--from', '2026-03-01', '--to', '2026-03-02'];
      const csvCode = await h.cli(...twoDays, '--csv');
      const csvText = h.stdout.text;
      // Spelled with a leading zero: still customer 501 (one customer, one spelling).
      const jsonCode = await h.cli(
        'usage',
        '--customer',
        '0501',
        '--from',
        '2026-03-01',
        '--to',
        '2026-03-31',
        '--json',
      );
      const json = h.json() as { totalMb: string; days: unknown[] };
      const tableCode = await h.cli(...twoDays);

      // Assess
      expect(csvCode).toBe(0);
      expect(csvText).toBe(
        'day,customerId,userName,uploadMb,downloadMb,totalMb\r\n' +
          '2026-03-01,501,"a,b@x",1024,1536,2560\r\n' +
          '2026-03-02,501,"a,b@x",0,2048,2048\r\n',
      );
      expect(jsonCode).toBe(0);
      expect(json.totalMb).toBe(String(1024 * (2.5 + 2 + 18)));
      expect(json.days).toHaveLength(3);
      expect(tableCode).toBe(0);
      expect(h.stdout.text).toMatch(/2026-03-01\s+1 GB\s+1\.5 GB\s+2\.5 GB/);
      expect(h.stdout.text).toContain('customer 501 (a,b@x): 4.5 GB over 2 day(s)');
    });

    it.each([
      [['usage', '--from', '2026-03-01', '--to', '2026-03-02'], '--customer is required'],
      [
        ['usage', '--customer', 'x1', '--from', '2026-03-01', '--to', '2026-03-02'],
        '--customer must be',
      ],
      [
        ['usage', '--customer', '1', '--from', '2026-02-30', '--to', '2026-03-02'],
        '--from must be a date',
      ],
      [['usage', '--customer', '1', '--from', '2026-03-03', '--to', '2026-03-02'], 'is after'],
      [
        [
          'usage',
          '--customer',
          '1',
          '--from',
          '2026-03-01',
          '--to',
          '2026-03-02',
          '--csv',
          '--json',
        ],
        'not both',
      ],
    ])('exits 2 with a clear message for %j', async (argv, message) => {
      // Act
      const code = await h.cli(...argv);

      // Assess
      expect(code).toBe(2);
      expect(h.stderr.text).toContain(message);
      expect(h.stderr.text).toContain('usage: flowpilot usage');
      expect(h.stdout.text).toBe('');
    });
  });

  describe('backfill', () => {
    it('re-reads every page of the range into the store, with progress lines off a terminal', async () => {
      // Prepare: 120 rows over 3 days at 50 a page = 3 pages, and one day outside the range.
      const rows: UsageRowInput[] = [];
      for (const day of ['2026-03-01', '2026-03-02', '2026-03-03']) {
        for (let c = 0; c < 40; c++) {
          rows.push({
            customerId: String(7000 + c),
            reportDate: day,
            uploadMb: c,
            downloadMb: 100 + c,
          });
        }
      }
      rows.push({ customerId: '7000', reportDate: '2026-02-27', uploadMb: 1, downloadMb: 1 });
      fx.sim.addUsageRows(rows);
      fx.sim.setConsumeSeries([{ date: '2026-03-02', uploadMb: 5, downloadMb: 6 }]);

      // Act
      const code = await h.cli('backfill', '--from', '2026-03-01', '--to', '2026-03-03', '--json');

      // Assess
      expect(code).toBe(0);
      expect(h.json()).toEqual({
        from: '2026-03-01',
        to: '2026-03-03',
        pages: 3,
        rows: 120,
        written: { usage: 120, series: 1 },
      });
      expect(h.stderr.text.trim().split('\n')).toEqual([
        'backfill 2026-03-01..2026-03-03: 1/3 pages, 50 rows',
        'backfill 2026-03-01..2026-03-03: 2/3 pages, 100 rows',
        'backfill 2026-03-01..2026-03-03: 3/3 pages, 120 rows',
      ]);
      const ctx = h.context();
      const stored = await ctx.stores.usage.byCustomer('7039', '2026-02-01', '2026-03-31');
      expect(stored.map((r) => [r.day, r.downloadMb.toFixed()])).toEqual([
        ['2026-03-01', '139'],
        ['2026-03-02', '139'],
        ['2026-03-03', '139'],
      ]);
      expect(await ctx.stores.usage.byCustomer('7000', '2026-02-27', '2026-02-27')).toEqual([]);
      const series = await ctx.stores.series.consume('2026-03-02', '2026-03-02');
      expect(series.map((d) => [d.uploadMb.toFixed(), d.downloadMb.toFixed()])).toEqual([
        ['5', '6'],
      ]);
    });

    it('refuses a range in the future (exit 2) and says when no upstream is configured (exit 1)', async () => {
      // Prepare
      const offline = harness(table, { upstream: false });

      // Act
      const future = await h.cli('backfill', '--from', TODAY, '--to', '2026-03-11');
      const futureErr = h.stderr.text;
      const noUpstream = await offline.cli('backfill', '--from', YESTERDAY);

      // Assess
      expect(future).toBe(2);
      expect(futureErr).toContain('--to 2026-03-11 is in the future');
      expect(noUpstream).toBe(1);
      expect(offline.stderr.text).toContain('this command needs the upstream: set IPWEB_TOKEN');
    });
  });

  describe('replay', () => {
    it('credits a RECEIVED order once, then reports it done without calling the upstream', async () => {
      // Prepare
      fx.sim.addCustomer({ customerId: '88' });
      fx.sim.setPool('primary', { rechargedMb: 1e7, consumedMb: 0, residualMb: 1e7 });
      const ledger = new DynamoLedger(table.doc, table.tableName);
      await ledger.createOrder(order('cs_replay_1'), { now: NOW });

      // Act
      const first = await h.cli('replay', 'stripe:cs_replay_1', '--json');
      const firstOut = h.json();
      const second = await h.cli('replay', 'stripe:cs_replay_1');

      // Assess
      expect(first).toBe(0);
      expect(firstOut).toEqual(
        expect.objectContaining({
          outcome: 'credited',
          state: 'CREDITED',
          key: 'stripe:cs_replay_1',
        }),
      );
      expect(fx.sim.ledger()).toEqual([
        expect.objectContaining({
          orderId: deriveOrderId('stripe', 'cs_replay_1'),
          trafficGb: '10',
        }),
      ]);
      expect(second).toBe(0);
      expect(h.stdout.text).toMatch(/outcome:\s+already-credited/);
      expect(fx.sim.calls().filter((c) => c.endpoint === 'rechargeTrafficCount')).toHaveLength(1);
    });

    it('waits out a live lease, then takes over an expired one; the upstream applies it once', async () => {
      // Prepare: a delivery crashed after the upstream applied the recharge.
      fx.sim.addCustomer({ customerId: '88' });
      fx.sim.setPool('primary', { rechargedMb: 1e7, consumedMb: 0, residualMb: 1e7 });
      const key = { provider: 'stripe', paymentId: 'cs_replay_2' };
      const ledger = new DynamoLedger(table.doc, table.tableName);
      await ledger.createOrder(order('cs_replay_2', { state: 'CREDITING' }), {
        now: NOW,
        lease: { owner: 'crashed', until: NOW.getTime() + 60_000 },
      });
      const client = fx.client();
      await client.rechargeTrafficCount({
        customerId: '88',
        orderId: deriveOrderId('stripe', 'cs_replay_2'),
        trafficGb: new (await import('../../functions/commons/units.ts')).Decimal(10),
      });
      const later = harness(table, { clock: () => new Date(NOW.getTime() + 61_000) });

      // Act
      const live = await h.cli('replay', 'stripe:cs_replay_2');
      const liveOut = h.stdout.text;
      const expired = await later.cli('replay', 'stripe:cs_replay_2', '--json');

      // Assess
      expect(live).toBe(1);
      expect(liveOut).toMatch(/outcome:\s+in-progress/);
      expect(expired).toBe(0);
      expect(later.json()).toEqual(
        expect.objectContaining({ outcome: 'credited', state: 'CREDITED' }),
      );
      // The second call was answered "already processed": one recharge upstream.
      expect(fx.sim.ledger()).toHaveLength(1);
      expect((await ledger.getOrder(key))?.upstreamCode).toBe(201);
    });

    it('refuses HELD and REJECTED orders without an upstream call, and exits 3 for none', async () => {
      // Prepare
      const ledger = new DynamoLedger(table.doc, table.tableName);
      await ledger.createOrder(order('cs_held', { state: 'HELD', reason: 'monthly-cap' }), {
        now: NOW,
      });
      await ledger.createOrder(order('cs_rej', { state: 'REJECTED', reason: 'amount-mismatch' }), {
        now: NOW,
      });
      const offline = harness(table, { upstream: false });

      // Act
      const held = await offline.cli('replay', 'stripe:cs_held');
      const heldOut = offline.stdout.text;
      const rejected = await offline.cli('replay', 'stripe:cs_rej', '--json');
      const rejectedOut = offline.json();
      const missing = await offline.cli('replay', 'stripe:cs_none');

      // Assess
      expect(held).toBe(1);
      expect(heldOut).toMatch(/outcome:\s+refused/);
      expect(heldOut).toContain('held for review');
      expect(rejected).toBe(1);
      expect(rejectedOut).toEqual(
        expect.objectContaining({ outcome: 'refused', state: 'REJECTED' }),
      );
      expect(missing).toBe(3);
      expect(fx.sim.calls()).toEqual([]);
    });

    it('refuses an order the catalog no longer prices as recorded', async () => {
      // Prepare: recorded at 20 GB, the catalog sells gb10 as 10 GB.
      const ledger = new DynamoLedger(table.doc, table.tableName);
      await ledger.createOrder(order('cs_repriced', { gb: '20' }), { now: NOW });

      // Act
      const code = await h.cli('replay', 'stripe:cs_repriced');

      // Assess
      expect(code).toBe(1);
      expect(h.stdout.text).toContain('the catalog no longer prices this order as recorded');
      expect(fx.sim.calls()).toEqual([]);
      expect((await ledger.getOrder({ provider: 'stripe', paymentId: 'cs_repriced' }))?.state).toBe(
        'RECEIVED',
      );
    });
  });

  describe('replay --release-held', () => {
    const monthGb = async (customerId: string, month: string) =>
      (
        await table.doc.send(
          new GetCommand({
            TableName: table.tableName,
            Key: ledgerKeys.month(customerId, month),
          }),
        )
      ).Item?.gb;

    it('releases a HELD order with who and why, credits it once over the cap, and counts it in the month', async () => {
      // Prepare: customer 77 is already at the 50000 GB cap of March.
      fx.sim.addCustomer({ customerId: '77' });
      fx.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
      const ledger = new DynamoLedger(table.doc, table.tableName);
      const key = { provider: 'stripe', paymentId: 'cs_release_1' };
      await ledger.createOrder(
        order('cs_release_1', { state: 'HELD', reason: 'monthly-cap', customerId: '77' }),
        { now: NOW },
      );
      await table.doc.send(
        new PutCommand({
          TableName: table.tableName,
          Item: { ...ledgerKeys.month('77', '2026-03'), gb: 50_000 },
        }),
      );

      // Act
      const code = await h.cli(
        'replay',
        'stripe:cs_release_1',
        '--release-held',
        '--reason',
        'paid by wire; checked with the customer',
        '--by',
        'alice',
        '--json',
      );
      const out = h.json();
      const again = await h.cli(
        'replay',
        'stripe:cs_release_1',
        '--release-held',
        '--reason',
        'again',
        '--by',
        'bob',
      );

      // Assess
      expect(code).toBe(0);
      expect(out).toEqual(
        expect.objectContaining({
          outcome: 'credited',
          state: 'CREDITED',
          released: {
            by: 'alice',
            at: NOW.toISOString(),
            note: 'paid by wire; checked with the customer',
          },
        }),
      );
      expect(again).toBe(0);
      expect(h.stdout.text).toMatch(/outcome:\s+already-credited/);
      expect(h.stdout.text).toMatch(/released:\s+by alice at /);
      expect(fx.sim.ledger()).toEqual([
        expect.objectContaining({
          orderId: deriveOrderId('stripe', 'cs_release_1'),
          customerId: '77',
          trafficGb: '10',
        }),
      ]);
      expect(fx.sim.callCount('rechargeTrafficCount')).toBe(1);
      expect(await ledger.getOrder(key)).toMatchObject({
        state: 'CREDITED',
        reason: 'monthly-cap',
        releasedBy: 'alice',
        releasedAt: NOW.toISOString(),
        capMonth: '2026-03',
      });
      expect(await monthGb('77', '2026-03')).toBe(50_010);
    });

    it('releases an order over the per-order maximum; after a transient failure a plain replay finishes it', async () => {
      // Prepare: 3 × 5000 GB is over the default 10000 GB per-order maximum.
      fx.sim.addCustomer({ customerId: '88' });
      fx.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
      const ledger = new DynamoLedger(table.doc, table.tableName);
      const key = { provider: 'stripe', paymentId: 'cs_release_2' };
      await ledger.createOrder(
        order('cs_release_2', {
          state: 'HELD',
          reason: 'order-max',
          packageId: 'tb5',
          quantity: 3,
          gb: '15000',
          amountMinor: 600_000,
        }),
        { now: NOW },
      );
      // The harness's client tries three times.
      fx.sim.addFault({ kind: 'status', status: 502, endpoint: 'rechargeTrafficCount', times: 3 });

      // Act
      const first = await h.cli(
        'replay',
        'stripe:cs_release_2',
        '--release-held',
        '--reason',
        'bulk order approved',
        '--by',
        'alice',
        '--json',
      );
      const firstOut = h.json();
      const second = await h.cli('replay', 'stripe:cs_release_2', '--json');
      const secondOut = h.json();

      // Assess
      expect(first).toBe(1);
      expect(firstOut).toEqual(
        expect.objectContaining({ outcome: 'retry-later', state: 'RECEIVED' }),
      );
      expect(second).toBe(0);
      expect(secondOut).toEqual(
        expect.objectContaining({
          outcome: 'credited',
          state: 'CREDITED',
          released: expect.objectContaining({ by: 'alice' }),
        }),
      );
      expect(fx.sim.ledger()).toEqual([
        expect.objectContaining({
          orderId: deriveOrderId('stripe', 'cs_release_2'),
          trafficGb: '15000',
        }),
      ]);
      expect((await ledger.getOrder(key))?.state).toBe('CREDITED');
    });

    it('refuses an order that is not HELD or was refunded while held, changing nothing', async () => {
      // Prepare
      const ledger = new DynamoLedger(table.doc, table.tableName);
      await ledger.createOrder(order('cs_not_held'), { now: NOW });
      const refundedKey = { provider: 'stripe', paymentId: 'cs_held_refunded' };
      await ledger.createOrder(
        order('cs_held_refunded', { state: 'HELD', reason: 'order-max', customerId: '76' }),
        { now: NOW },
      );
      await ledger.recordPart(
        refundedKey,
        { partId: 'ch_1:1000', state: 'SKIPPED', kind: 'refund', gb: '0', minor: 1000 },
        NOW,
      );
      const release = ['--release-held', '--reason', 'ok', '--by', 'alice'];

      // Act
      const notHeld = await h.cli('replay', 'stripe:cs_not_held', ...release);
      const notHeldOut = h.stdout.text;
      const refunded = await h.cli('replay', 'stripe:cs_held_refunded', ...release, '--json');
      const refundedOut = h.json();

      // Assess
      expect(notHeld).toBe(1);
      expect(notHeldOut).toContain('not released: it is RECEIVED, not HELD');
      expect(refunded).toBe(1);
      expect(refundedOut).toEqual(
        expect.objectContaining({
          outcome: 'refused',
          state: 'HELD',
          message: expect.stringContaining('a refund or dispute was recorded while it was held'),
        }),
      );
      expect(await ledger.getOrder(refundedKey)).toMatchObject({ state: 'HELD' });
      expect(await monthGb('76', '2026-03')).toBeUndefined();
      expect(fx.sim.calls()).toEqual([]);
    });

    it('needs --reason (exit 2), and an upstream before it writes anything (exit 1)', async () => {
      // Prepare
      const ledger = new DynamoLedger(table.doc, table.tableName);
      const key = { provider: 'stripe', paymentId: 'cs_held_offline' };
      await ledger.createOrder(order('cs_held_offline', { state: 'HELD', reason: 'order-max' }), {
        now: NOW,
      });
      const offline = harness(table, { upstream: false });

      // Act
      const noReason = await h.cli('replay', 'stripe:cs_held_offline', '--release-held');
      const noReasonErr = h.stderr.text;
      const reasonAlone = await h.cli('replay', 'stripe:cs_held_offline', '--reason', 'x');
      const noUpstream = await offline.cli(
        'replay',
        'stripe:cs_held_offline',
        '--release-held',
        '--reason',
        'ok',
        '--by',
        'alice',
      );

      // Assess
      expect(noReason).toBe(2);
      expect(noReasonErr).toContain('--release-held needs --reason <why>');
      expect(reasonAlone).toBe(2);
      expect(noUpstream).toBe(1);
      expect(offline.stderr.text).toContain('this command needs the upstream');
      expect(await ledger.getOrder(key)).toMatchObject({ state: 'HELD' });
      expect((await ledger.getOrder(key))?.releasedAt).toBeUndefined();
    });
  });

  describe('reconcile', () => {
    it('reports matched credits and manual top-ups for a window, and keeps the report', async () => {
      // Prepare: a table of its own (other tests credited orders the simulator has forgotten);
      // one order credited through replay (ledger + upstream record), one manual top-up.
      const own = await createTestTable('cli-recon');
      h = harness(own);
      fx.sim.addCustomer({ customerId: '88' });
      fx.sim.addCustomer({ customerId: '89', account: 'manual@example.com' });
      fx.sim.setPool('primary', { rechargedMb: 1e7, consumedMb: 0, residualMb: 1e7 });
      const ledger = new DynamoLedger(own.doc, own.tableName);
      await ledger.createOrder(order('cs_recon'), { now: NOW });
      expect(await h.cli('replay', 'stripe:cs_recon')).toBe(0);
      fx.sim.addRecords([{ customerId: '89', account: 'manual@example.com', flowMb: 2048 }]);

      // Act
      const code = await h.cli('reconcile', '--from', TODAY, '--to', TODAY, '--json');
      const report = h.json() as { id: string; counts: Record<string, number>; alerted: boolean };
      const text = await h.cli('reconcile', '--from', TODAY, '--to', TODAY);

      // Assess
      expect(code).toBe(0);
      expect(report.counts).toEqual(
        expect.objectContaining({
          ledger: 1,
          upstream: 2,
          matched: 1,
          missingUpstream: 0,
          amountDifferences: 0,
          manualTopUps: 1,
        }),
      );
      expect(report.alerted).toBe(false);
      expect(await new ReportStore(own.doc, own.tableName, 30).get(report.id)).toEqual(report);
      expect(h.sink.events).toEqual([]);
      expect(text).toBe(0);
      expect(h.stdout.text).toContain('upstream recharges with no ledger entry (manual top-ups):');
      expect(h.stdout.text).toMatch(/89\s+manual@example\.com\s+2048/);
    });

    it('exits 2 when only one end of the window is given', async () => {
      // Act
      const code = await h.cli('reconcile', '--from', TODAY);

      // Assess
      expect(code).toBe(2);
      expect(h.stderr.text).toContain('give both --from and --to, or neither');
    });
  });
});
