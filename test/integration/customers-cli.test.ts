import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { type CliHarness, cliHarness } from '../helpers/cli.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { pollUsageThenCustomers } from '../helpers/polls.ts';
import { useSimulator } from '../helpers/simulator.ts';

const fx = useSimulator();
// 04:00 UTC is noon in Asia/Shanghai.
const NOW = new Date('2026-11-20T04:00:00.000Z');
const config = parseConfig({ customers: { lowList: { gb: 1, daysLeft: 3 } } });

let table: TestTable;
let h: CliHarness;
const cli = (...argv: string[]) => h.cli(...argv);

const poll = () =>
  pollUsageThenCustomers(table, { upstream: fx.client(), config, clock: () => NOW });

describe('CLI: customers, customer, customer calibrate', () => {
  beforeEach(async () => {
    table = await createTestTable('cli-customers');
    h = cliHarness(table, { config, clock: () => NOW, upstream: () => fx.client() });
    fx.sim.setNow(NOW);
    fx.sim.addCustomer({ customerId: '88', account: 'alice@example.com' });
    fx.sim.addCustomer({ customerId: '89', account: 'bob@example.com' });
    fx.sim.setPool('primary', { rechargedMb: 1e7, consumedMb: 0, residualMb: 1e7 });
    // 88: 10 GB bought a week ago, 1 GB a day since; 89: 100 GB, 100 MB a day.
    fx.sim.setNow(new Date('2026-11-13T01:00:00.000Z'));
    fx.sim.consoleTopUp({ customerId: '88', mb: '10240' });
    fx.sim.consoleTopUp({ customerId: '89', mb: '102400' });
    for (let d = 13; d <= 19; d++) {
      const day = `2026-11-${d}`;
      fx.sim.useTraffic({ customerId: '88', day, uploadMb: '24', downloadMb: '1000' });
      fx.sim.useTraffic({ customerId: '89', day, downloadMb: '100' });
    }
    fx.sim.setNow(NOW);
    await poll();
  });

  it('lists every customer, lowest days left first, and --low keeps the ones running low', async () => {
    expect(await cli('customers')).toBe(0);
    const lines = h.stdout.text.trim().split('\n');
    expect(lines[0]).toMatch(/^\s*ID\s+ACCOUNT\s+BALANCE\s+DAYS LEFT\s+LAST TOP-UP\s+NOTICE$/);
    // 10 GB − 7 GB = 3 GB at 1 GB a day; 100 GB − 700 MB at 100 MB a day.
    expect(lines[1]).toMatch(
      /^\s*88\s+alice@example\.com\s+3 GB\s+3\.0\s+10 GB 2026-11-13 01:00 UTC\s+-$/,
    );
    expect(lines[2]).toMatch(/^\s*89\s+bob@example\.com\s+99\.32 GB\s+1017\.0\s/);

    expect(await cli('customers', '--low', '--json')).toBe(0);
    const low = JSON.parse(h.stdout.text) as { customers: { customerId: string }[] };
    expect(low.customers.map((c) => c.customerId)).toEqual(['88']);
    expect(low.customers[0]).toMatchObject({
      balanceMb: '3072',
      burn1dMb: '1024',
      burn7dMb: '1024',
      daysLeft: 3,
      lastCreditMb: '10240',
    });
  });

  it('shows a customer whose usage exceeds every known credit as not calibrated, with the fix', async () => {
    // Prepare: 90 uses 5 GB with no purchase on record (bought before the records begin; its
    // account name comes with a record, so none is known).
    fx.sim.addCustomer({ customerId: '90', account: 'carol@example.com' });
    fx.sim.useTraffic({ customerId: '90', day: '2026-11-19', downloadMb: '5120' });
    await poll();

    // Act
    expect(await cli('customers')).toBe(0);
    const listed = h.stdout.text;
    expect(await cli('customers', '--low', '--json')).toBe(0);
    const low = JSON.parse(h.stdout.text) as { customers: { customerId: string }[] };
    expect(await cli('customer', '90')).toBe(0);
    const shown = h.stdout.text;
    expect(await cli('customer', 'calibrate', '90', '--gb', '20')).toBe(0);
    expect(await cli('customers')).toBe(0);
    const after = h.stdout.text;

    // Assess
    expect(listed).toMatch(/^\s*90\s+-\s+not calibrated\s+-\s/m);
    expect(listed).toContain('1 customer(s) not calibrated');
    expect(listed).toContain('flowpilot customer calibrate <id> --gb');
    expect(listed).not.toMatch(/-5 GB/);
    expect(low.customers.map((c) => c.customerId)).toEqual(['88']);
    expect(shown).toContain(
      'balance:    not calibrated: usage exceeds every credit known by 5 GB; set the opening: flowpilot customer calibrate 90 --gb',
    );
    expect(after).toMatch(/^\s*90\s+-\s+20 GB\s/m);
    expect(after).not.toContain('not calibrated');
  });

  it('shows one customer with its ledger lines and a chart of daily usage', async () => {
    expect(await cli('customer', '088', '--days', '3')).toBe(0);
    expect(h.stdout.text).toContain('customer:   88 (alice@example.com)');
    expect(h.stdout.text).toContain('balance:    3 GB');
    expect(h.stdout.text).toMatch(/2026-11-13 01:00 UTC\s+credit\s+\+10 GB\s+admin/);
    const chart = h.stdout.text.split('daily usage, last 3 days\n')[1] ?? '';
    expect(chart.split('\n').filter(Boolean)).toEqual([
      `2026-11-18 ${'█'.repeat(40)} 1 GB`,
      `2026-11-19 ${'█'.repeat(40)} 1 GB`,
      `2026-11-20 ${' '.repeat(40)} 0 GB`,
    ]);
  });

  it('calibrates an opening balance and recomputes at once; bad input changes nothing', async () => {
    // As of the end of the 16th: 120.5 GB, then three days of 1 GB.
    expect(await cli('customer', 'calibrate', '88', '--gb', '120.5', '--as-of', '2026-11-16')).toBe(
      0,
    );
    expect(h.stdout.text).toContain(
      'opening 120.5 GB as of 2026-11-16 16:00 UTC; balance now 117.5 GB',
    );
    expect(await cli('customer', '88', '--json')).toBe(0);
    expect(JSON.parse(h.stdout.text)).toMatchObject({
      balance: { balanceMb: '120320', daysLeft: 117.5 },
      opening: { mb: '123392', at: '2026-11-16T16:00:00.000Z' },
      creditsMb: '0',
      usageMb: '3072',
    });

    expect(await cli('customer', 'calibrate', '88', '--gb=-3')).toBe(2);
    expect(h.stderr.text).toContain('--gb must be a number of GB');
    expect(await cli('customer', 'calibrate', '88', '--gb', '1', '--as-of', '2026-11-20')).toBe(2);
    expect(h.stderr.text).toContain('--as-of must be a day before today');
    expect(await cli('customer', 'calibrate', 'x8', '--gb', '1')).toBe(2);
    expect(await cli('customer', '77')).toBe(3);
    expect(await cli('customer', '88', '--json')).toBe(0);
    expect(JSON.parse(h.stdout.text).balance.balanceMb).toBe('120320');
  });
});
