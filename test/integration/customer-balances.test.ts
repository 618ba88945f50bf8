import { describe, expect, it } from 'vitest';
import { calibrate } from '../../functions/commons/customers/calibrate.ts';
import {
  POLL_CUSTOMERS,
  type PollCustomersDeps,
  pollCustomers,
} from '../../functions/commons/customers/poll.ts';
import type { BalanceChange, BalanceListener } from '../../functions/commons/customers/types.ts';
import { type PollUsageDeps, pollUsage } from '../../functions/commons/pollers/usage.ts';
import type { LedgerCredit } from '../../functions/commons/reconcile/match.ts';
import { CustomerBalanceStore } from '../../functions/commons/store/customer-balances.ts';
import { CustomerRecordStore } from '../../functions/commons/store/customer-records.ts';
import { PollStateStore } from '../../functions/commons/store/poll-state.ts';
import { SeriesStore } from '../../functions/commons/store/series.ts';
import { UsageStore } from '../../functions/commons/store/usage.ts';
import { Decimal } from '../../functions/commons/units.ts';
import { createTestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';

const fixture = useSimulator();
const ZONE = 'Asia/Shanghai';

/** Seeded so a failure replays the same month. */
function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Records every batch the poll hands over. */
class RecordingListener implements BalanceListener {
  readonly name = 'recording';
  readonly batches: BalanceChange[][] = [];
  async onBalances(changes: readonly BalanceChange[]): Promise<void> {
    this.batches.push([...changes]);
  }
}

async function setup(start: Date, opts: { credits?: LedgerCredit[] } = {}) {
  const table = await createTestTable('customers');
  const batch = { baseDelayMs: 1 };
  let now = start;
  const clock = () => now;
  fixture.sim.setNow(now);
  const usage = new UsageStore(table.doc, table.tableName, { batch });
  const pollState = new PollStateStore(table.doc, table.tableName);
  const balances = new CustomerBalanceStore(table.doc, table.tableName, batch);
  const records = new CustomerRecordStore(table.doc, table.tableName, batch);
  const listener = new RecordingListener();
  const upstream = fixture.client({ timeoutMs: 10_000 });
  const usageDeps: PollUsageDeps = {
    upstream,
    usage,
    series: new SeriesStore(table.doc, table.tableName, { batch }),
    pollState,
    polling: { backfillDays: 30, pageSize: 2000, maxPagesInFlight: 2, safetyMarginMs: 1000 },
    timeZone: ZONE,
    clock,
  };
  const customerDeps: PollCustomersDeps = {
    upstream,
    usage,
    balances,
    records,
    pollState,
    listeners: [
      {
        name: 'broken',
        onBalances: async () => {
          throw new Error('SES is down');
        },
      },
      listener,
    ],
    ...(opts.credits && {
      credits: { listCredited: async () => opts.credits ?? [] },
    }),
    config: {
      usageCounts: 'upload+download',
      recordsPageSize: 1000,
      usageDaysPerStep: 7,
      timeZone: ZONE,
      retentionDays: 400,
      safetyMarginMs: 1000,
      toleranceMinutes: 15,
    },
    clock,
  };
  const t0Ready = { value: false };
  const poll = async () => {
    const u = await pollUsage(usageDeps);
    expect(u.outcome.ok).toBe(true);
    const c = await pollCustomers(customerDeps);
    expect(c.outcome).toMatchObject({ ok: true, complete: true });
    // Every run after the backfill hands the broken listener its changes, and it says so.
    if (c.outcome.changes || t0Ready.value) {
      expect(c.outcome.listenerFailures).toEqual([
        { name: 'broken', message: 'Error: SES is down' },
      ]);
    }
    t0Ready.value = true;
    return c.outcome;
  };
  const calibrateDeps = {
    balances,
    records,
    usage,
    pollState,
    timeZone: ZONE,
    usageCounts: 'upload+download' as const,
    clock,
  };
  return {
    table,
    balances,
    pollState,
    listener,
    upstream,
    customerDeps,
    poll,
    calibrateDeps,
    setNow(at: Date) {
      now = at;
      fixture.sim.setNow(at);
    },
  };
}

async function flowPilotBalance(balances: CustomerBalanceStore, id: string): Promise<string> {
  const stored = await balances.get(id);
  if (!stored) throw new Error(`no balance for ${id}`);
  const { balanceMb } = await import('../../functions/commons/customers/balance.ts');
  return balanceMb(stored.state).toFixed();
}

describe('Function: pollCustomers', () => {
  it("keeps every customer's balance equal to the vendor's over a month of usage, top-ups by webhook and by hand, and deductions", {
    timeout: 180_000,
  }, async () => {
    // Prepare: 88 starts with 10 GB (set in FlowPilot by calibration), 89 and 90 at zero.
    const start = new Date('2026-11-01T02:00:00.000Z'); // 10:00 in Shanghai
    const t = await setup(start);
    fixture.sim.addCustomer({ customerId: '88', account: 'alice@example.com', balanceMb: 10240 });
    fixture.sim.addCustomer({ customerId: '89', account: 'bob@example.com' });
    fixture.sim.addCustomer({ customerId: '90', account: 'carol@example.com' });
    fixture.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
    const calibrated = await calibrate(t.calibrateDeps, {
      customerId: '088',
      gb: new Decimal('10'),
      asOf: '2026-10-31',
    });
    expect(calibrated.figures.balanceMb).toBe('10240');
    const random = seeded(16);
    const amount = (max: number) => new Decimal(random() * max).toDecimalPlaces(2);

    // Act: 30 days, three moments a day; after each, both polls run as scheduled.
    let orders = 0;
    for (let day = 0; day < 30; day++) {
      for (const hour of [2, 8, 15]) {
        t.setNow(new Date(start.getTime() + day * 86_400_000 + (hour - 2) * 3_600_000));
        for (const id of ['88', '89', '90']) {
          fixture.sim.useTraffic({
            customerId: id,
            uploadMb: amount(30),
            downloadMb: amount({ '88': 60, '89': 400, '90': 50 }[id] ?? 0),
          });
        }
        const roll = random();
        if (roll < 0.15) {
          await t.upstream.rechargeTrafficCount({
            customerId: '89',
            orderId: `order-${++orders}`,
            trafficGb: new Decimal('2.5'),
          });
        } else if (roll < 0.25) {
          fixture.sim.consoleTopUp({ customerId: '90', mb: '1536.5' });
        } else if (roll < 0.3) {
          await t.upstream.deductionFlow({ customerId: '88', trafficGb: new Decimal('0.5') });
        }
        await t.poll();
      }
      // Assess, every evening: FlowPilot's balance is the vendor's, to the last hundredth MB.
      for (const id of ['88', '89', '90']) {
        expect(await flowPilotBalance(t.balances, id), `customer ${id} on day ${day}`).toBe(
          new Decimal(fixture.sim.getCustomer(id)?.balanceMb ?? 'NaN').toFixed(),
        );
      }
    }
    const kinds = fixture.sim.listRecords().map((r) => `${r.type}:${r.createBy}`);
    expect(kinds).toContain('0:admin');
    expect(kinds).toContain('0:flowpilot-agent');
    expect(kinds).toContain('1:flowpilot-agent');
    // A month in, the oldest days are folded: the stored item does not grow with history.
    const stored = await t.balances.get('88');
    expect(stored?.state.recent.size).toBeLessThanOrEqual(9);
    expect(stored?.state.settledThrough).toBeDefined();
  });

  it('hands the listeners one change per customer touched, with the credits that landed, and nothing for the backfill', {
    timeout: 60_000,
  }, async () => {
    // Prepare: history before FlowPilot looks, including an old top-up.
    const start = new Date('2026-11-10T02:00:00.000Z');
    const ledgerCredit: LedgerCredit = {
      orderKey: 'stripe:pi_123',
      customerId: '89',
      gb: new Decimal('1'),
      creditedAt: new Date('2026-11-11T04:00:00.000Z'),
    };
    const t = await setup(start, { credits: [ledgerCredit] });
    fixture.sim.addCustomer({ customerId: '88', account: 'alice@example.com' });
    fixture.sim.addCustomer({ customerId: '89', account: 'bob@example.com' });
    fixture.sim.setPool('primary', { rechargedMb: 1e9, consumedMb: 0, residualMb: 1e9 });
    fixture.sim.consoleTopUp({ customerId: '88', mb: '5120' });
    fixture.sim.useTraffic({ customerId: '88', downloadMb: '100' });

    // Act 1: the first complete run is the backfill.
    await t.poll();
    expect(t.listener.batches).toEqual([]);

    // Act 2: nothing moved.
    t.setNow(new Date('2026-11-10T03:00:00.000Z'));
    await t.poll();
    expect(t.listener.batches).toEqual([[]]);

    // Act 3: a day later, 88 used traffic and bought 2 GB by hand; 89 was credited by FlowPilot.
    t.setNow(new Date('2026-11-11T04:00:00.000Z'));
    fixture.sim.useTraffic({ customerId: '88', uploadMb: '10', downloadMb: '90' });
    fixture.sim.consoleTopUp({ customerId: '88', mb: '2048' });
    await t.upstream.rechargeTrafficCount({
      customerId: '89',
      orderId: 'stripe:pi_123',
      trafficGb: new Decimal('1'),
    });
    await t.poll();

    // Assess
    const [batch] = t.listener.batches.slice(-1);
    const byId = new Map((batch ?? []).map((c) => [c.after.customerId, c]));
    expect([...byId.keys()].sort()).toEqual(['88', '89']);
    const alice = byId.get('88');
    expect(alice?.before?.balanceMb).toBe('5020');
    expect(alice?.after).toMatchObject({
      customerId: '88',
      account: 'alice@example.com',
      balanceMb: '6968',
      burn1dMb: '100',
      lastCreditMb: '2048',
      lastCreditAt: '2026-11-11T04:00:00.000Z',
      asOf: '2026-11-11T04:00:00.000Z',
    });
    expect(alice?.credits).toEqual([{ mb: '2048', at: '2026-11-11T04:00:00.000Z' }]);
    const bob = byId.get('89');
    expect(bob?.before).toBeUndefined();
    expect(bob?.after.balanceMb).toBe('1024');
    expect(bob?.credits).toEqual([
      { mb: '1024', at: '2026-11-11T04:00:00.000Z', orderId: 'stripe:pi_123' },
    ]);

    // A listener that throws does not keep the others from their changes.
    expect(t.listener.batches).toHaveLength(2);

    // Act 4: the same state read again is no news, and counts nothing twice.
    t.setNow(new Date('2026-11-11T04:15:00.000Z'));
    await t.poll();
    expect(t.listener.batches.slice(-1)).toEqual([[]]);
    expect(await flowPilotBalance(t.balances, '88')).toBe('6968');
  });

  it('counts a top-up once when a run fails between storing its record and writing the balance', {
    timeout: 60_000,
  }, async () => {
    // Prepare: backfill done, then a top-up by hand.
    const t = await setup(new Date('2026-11-10T02:00:00.000Z'));
    fixture.sim.addCustomer({ customerId: '88' });
    fixture.sim.useTraffic({ customerId: '88', downloadMb: '100' });
    await t.poll();
    t.setNow(new Date('2026-11-10T03:00:00.000Z'));
    fixture.sim.consoleTopUp({ customerId: '88', mb: '4096' });
    const failing: PollCustomersDeps['balances'] = {
      getMany: (ids) => t.balances.getMany(ids),
      put: async () => {
        throw new Error('DynamoDB went away');
      },
    };

    // Act: the record is stored, the balance write fails; the next runs repeat the work.
    await expect(pollCustomers({ ...t.customerDeps, balances: failing })).rejects.toThrow(
      'DynamoDB went away',
    );
    await t.poll();
    t.setNow(new Date('2026-11-10T03:15:00.000Z'));
    await t.poll();

    // Assess
    expect(await flowPilotBalance(t.balances, '88')).toBe('3996');
    expect(fixture.sim.getCustomer('88')?.balanceMb).toBe('3996');
  });

  it('waits for poll-usage, and resumes a backfill cut short by the deadline', {
    timeout: 60_000,
  }, async () => {
    const start = new Date('2026-11-10T02:00:00.000Z');
    const t = await setup(start);
    fixture.sim.addCustomer({ customerId: '88', balanceMb: 0 });
    fixture.sim.consoleTopUp({ customerId: '88', mb: '1000' });

    const early = await pollCustomers(t.customerDeps);
    expect(early.outcome).toMatchObject({
      ok: true,
      complete: false,
      stopReason: 'usage-not-ready',
    });
    expect(await flowPilotBalance(t.balances, '88')).toBe('1000');

    // The deadline allows one store step at a time.
    let budget = 0;
    const cut = { ...t.customerDeps, remainingMs: () => (budget-- > 0 ? 60_000 : 0) };
    fixture.sim.useTraffic({ customerId: '88', downloadMb: '250.5' });
    const u = await pollUsage({
      upstream: t.upstream,
      usage: t.customerDeps.usage as UsageStore,
      series: new SeriesStore(t.table.doc, t.table.tableName),
      pollState: t.pollState,
      polling: { backfillDays: 30, pageSize: 2000, maxPagesInFlight: 2, safetyMarginMs: 1000 },
      timeZone: ZONE,
      clock: () => start,
    });
    expect(u.outcome.ok).toBe(true);
    const runs = [];
    for (let i = 0; i < 200; i++) {
      budget = 6;
      const r = await pollCustomers(cut);
      runs.push(r.outcome);
      if (r.outcome.complete) break;
    }
    expect(runs.length).toBeGreaterThan(2);
    expect(runs.slice(0, -1).every((o) => !o.complete && o.ok && o.stopReason === 'time')).toBe(
      true,
    );
    expect(await t.pollState.cursor(POLL_CUSTOMERS)).toBe('2026-11-09');
    expect(await flowPilotBalance(t.balances, '88')).toBe('749.5');
  });
});
