import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { Decimal } from '../../functions/commons/units.ts';
import { type CliHarness, cliHarness } from '../helpers/cli.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { pollUsageThenCustomers } from '../helpers/polls.ts';
import { useSimulator } from '../helpers/simulator.ts';

// 04:00 UTC is noon in Asia/Shanghai.
const NOW = new Date('2026-11-20T04:00:00.000Z');
// npm start's simulator: seeded with a plausible agent.
const fx = useSimulator({ seedData: true, now: () => NOW });
const config = parseConfig({});
const SEEDED = ['1001', '1002', '1003', '1004', '1005'];

let table: TestTable;
let h: CliHarness;
const cli = (...argv: string[]) => h.cli(...argv);
const poll = () =>
  pollUsageThenCustomers(table, { upstream: fx.client(), config, clock: () => NOW });

describe("the demo simulator's customers carry a purchase history", () => {
  beforeEach(async () => {
    table = await createTestTable('sim-demo');
    h = cliHarness(table, { config, clock: () => NOW, upstream: () => fx.client() });
  });

  it('covers every day of their usage, and the vendor balance is what the purchases leave', () => {
    // Prepare
    const records = fx.sim.listRecords();
    const usage = fx.sim.listUsage();

    // Act: each customer's balance day by day, as the vendor keeps it.
    const lowest = new Map<string, Decimal>();
    const end = new Map<string, Decimal>();
    for (const id of SEEDED) {
      const days = [...new Set(usage.map((u) => u.reportDate))].sort();
      let balance = new Decimal(0);
      let min: Decimal | undefined;
      for (const day of days) {
        for (const r of records.filter((x) => x.customerId === id && x.createTime.startsWith(day)))
          balance = balance.plus(r.flowMb);
        for (const u of usage.filter((x) => x.customerId === id && x.reportDate === day))
          balance = balance.minus(u.uploadMb).minus(u.downloadMb);
        min = min === undefined || balance.lt(min) ? balance : min;
      }
      lowest.set(id, min ?? balance);
      end.set(id, balance);
    }

    // Assess
    expect(records.every((r) => r.type === 0 && new Decimal(r.flowMb).gt(0))).toBe(true);
    for (const id of SEEDED) {
      expect(lowest.get(id)?.gte(0)).toBe(true);
      expect(end.get(id)?.toFixed()).toBe(fx.sim.getCustomer(id)?.balanceMb);
    }
    // The agent's pool gave out exactly what its customers bought.
    const sold = records.reduce((t, r) => t.plus(r.flowMb), new Decimal(0));
    const primary = fx.sim.getPools().primary;
    expect(primary.consumedMb).toBe(sold.toFixed());
    expect(new Decimal(primary.rechargedMb).minus(primary.residualMb).toFixed()).toBe(
      sold.toFixed(),
    );
  });

  it('after the first polls, flowpilot customers shows funded customers and two running low', async () => {
    // Act
    await poll();
    expect(await cli('customers', '--json')).toBe(0);
    const listed = JSON.parse(h.stdout.text) as {
      customers: { customerId: string; balanceMb: string; daysLeft: number | null }[];
    };
    expect(await cli('customers', '--low', '--json')).toBe(0);
    const low = JSON.parse(h.stdout.text) as { customers: { customerId: string }[] };
    expect(await cli('customers')).toBe(0);
    const text = h.stdout.text;

    // Assess: FlowPilot's balances are the vendor's, none negative.
    expect(listed.customers.map((c) => c.customerId).sort()).toEqual(SEEDED);
    for (const c of listed.customers) {
      expect(c.balanceMb).toBe(fx.sim.getCustomer(c.customerId)?.balanceMb);
      expect(new Decimal(c.balanceMb).gt(0)).toBe(true);
    }
    const days = new Map(listed.customers.map((c) => [c.customerId, c.daysLeft]));
    expect(days.get('1003')).toBeLessThan(3);
    expect(days.get('1005')).toBeLessThan(3);
    for (const id of ['1001', '1002', '1004']) expect(days.get(id)).toBeGreaterThanOrEqual(9.5);
    expect(low.customers.map((c) => c.customerId).sort()).toEqual(['1003', '1005']);
    expect(text).not.toMatch(/\s[-−]\d/);
  });
});
