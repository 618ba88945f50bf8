import { describe, expect, it } from 'vitest';
import { Decimal } from '../../functions/commons/units.ts';
import { useLocalRuns } from '../helpers/npm-start.ts';

describe('customer balances end to end: npm start', () => {
  const startLocal = useLocalRuns();

  it('computes every customer balance with poll-customers and shows it in the CLI and on the status page', {
    timeout: 180_000,
  }, async () => {
    // Prepare
    const running = await startLocal();
    const { sim, invoke, flowpilot } = running;

    // Act: usage first, then the balances (the first run is the backfill); then a top-up
    // made by hand in the vendor console, seen by the next run.
    expect((await invoke('poll-usage')).status).toBe(200);
    const backfill = await invoke('poll-customers');
    await fetch(`${sim}_sim/customers/topup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: '1001', mb: '2048' }),
    });
    const steady = await invoke('poll-customers');
    const listed = await flowpilot(['customers', '--json']);
    const page = await (await fetch(`${running.base}/`)).text();

    // Assess: every balance is the one the vendor keeps: the seeded purchases and 1001's
    // console top-up less every usage row the simulator reports.
    expect(backfill).toMatchObject({ status: 200, body: { ok: true } });
    expect(steady.body).toMatchObject({
      ok: true,
      result: { outcome: { ok: true, complete: true, records: { new: 1 } } },
    });
    const vendor = (await (await fetch(`${sim}_sim/customers`)).json()) as {
      customerId: string;
      inChannel: boolean;
      balanceMb: string;
    }[];
    expect(listed.code).toBe(0);
    const customers = (JSON.parse(listed.stdout) as { customers: Record<string, unknown>[] })
      .customers;
    expect(customers.map((c) => c.customerId).sort()).toEqual([
      '1001',
      '1002',
      '1003',
      '1004',
      '1005',
    ]);
    for (const v of vendor.filter((c) => c.inChannel)) {
      expect(customers.find((c) => c.customerId === v.customerId)).toMatchObject({
        balanceMb: v.balanceMb,
      });
      expect(new Decimal(v.balanceMb).gt(0)).toBe(true);
    }
    expect(customers.find((c) => c.customerId === '1001')).toMatchObject({ lastCreditMb: '2048' });
    // The seed funds most customers comfortably and leaves two running low.
    expect(page).toContain('<h2>Customers running low (2)</h2>');
  });
});
