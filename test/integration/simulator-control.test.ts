import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../functions/commons/units.ts';
import { remoteSimulator, startSimulator } from '../../local/simulator/index.ts';
import { useSimulator } from '../helpers/simulator.ts';

const fx = useSimulator();

async function control(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${fx.sim.origin}/_sim/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

describe('Simulator control API over HTTP', () => {
  it('sets pools, customers and usage that the client then reads', async () => {
    // Prepare
    await control('PUT', 'pools/primary', {
      rechargedMb: 2048,
      consumedMb: '48.5',
      residualMb: '1999.5',
    });
    await control('POST', 'customers', [{ customerId: '88', account: 'a@b.c' }]);
    await control('POST', 'usage', {
      rows: [{ reportDate: '2025-12-25', customerId: '88', uploadMb: 1, downloadMb: '2.5' }],
    });
    await control('POST', 'usage/generate', { count: 10, endDate: '2025-12-24' });
    const client = fx.client();

    // Act
    const totals = await client.getFlowTotalFull();
    const usage = await client.flowReport({ customerId: '88', pageSize: 100 });

    // Assess
    expect(totals.primary.residualMb.toFixed()).toBe('1999.5');
    expect(usage.total).toBe(11);
    expect(usage.rows[0]).toMatchObject({ reportDate: '2025-12-25', userName: 'a@b.c' });
  });

  it('injects counted faults and reports calls, counters, ledger and deductions', async () => {
    // Prepare
    await control('POST', 'customers', { customerId: '88' });
    await control('PUT', 'pools/primary', { residualMb: 4096 });
    await control('POST', 'faults', {
      kind: 'status',
      status: 503,
      endpoint: 'getFlowTotalFull',
      times: 1,
    });
    const client = fx.client();

    // Act
    await client.getFlowTotalFull();
    await client.rechargeTrafficCount({
      customerId: '88',
      orderId: 'o-9',
      trafficGb: new Decimal(2),
    });
    await client.deductionFlow({ customerId: '88', trafficGb: new Decimal(1) });
    const counters = (await control('GET', 'counters')) as Record<string, number>;
    const calls = (await control('GET', 'calls?endpoint=getFlowTotalFull')) as Array<{
      fault?: string;
    }>;
    const ledger = await control('GET', 'ledger');
    const deductions = await control('GET', 'deductions');

    // Assess
    expect(counters).toMatchObject({
      getFlowTotalFull: 2,
      rechargeTrafficCount: 1,
      deductionFlow: 1,
      flowReport: 0,
    });
    expect(calls.map((c) => c.fault)).toEqual(['status', undefined]);
    expect(ledger).toMatchObject([
      { orderId: 'o-9', customerId: '88', trafficGb: '2', flowMb: '2048' },
    ]);
    expect(deductions).toMatchObject([{ customerId: '88', flowMb: '1024' }]);
  });

  it('sets series, records and options, and resets everything', async () => {
    // Prepare
    await control('PUT', 'series/nni', { days: [{ date: '2025-01-01', flowMb: 5 }] });
    await control('PUT', 'series/consume', {
      days: [{ date: '2025-01-01', uploadMb: 1, downloadMb: 2 }],
    });
    await control('POST', 'records', {
      records: [{ customerId: '7', account: 'x', flowMb: 100, createTime: '2025-01-01 08:00:00' }],
    });
    await control('PUT', 'options', { numberStyle: 'string', residualKey: 'spaced' });
    await control('POST', 'faults', { kind: 'html', endpoint: 'flowReport' });
    const client = fx.client();

    // Act
    const nni = await client.getNNIFlowConsumeDetail({});
    const records = await client.myRechargeFlowList({
      startDate: '2025-01-01',
      endDate: '2025-01-01',
    });
    const raw = await (
      await fetch(`${fx.sim.url}/api/agent/getFlowTotalFull`, { headers: { token: fx.sim.token } })
    ).text();
    await control('POST', 'reset', {});
    const state = (await control('GET', 'state')) as {
      faults: unknown[];
      counters: Record<string, number>;
    };

    // Assess
    expect(nni.map((d) => d.flowMb.toFixed())).toEqual(['5']);
    expect(records.rows).toMatchObject([
      { customerId: '7', typeDesc: '充值', createTime: '2025-01-01 08:00:00' },
    ]);
    expect(raw).toContain('"residualFlow ":"0.00"');
    expect(raw).not.toContain('"residualFlow":');
    expect(state.faults).toEqual([]);
    expect(Object.values(state.counters).every((n) => n === 0)).toBe(true);
  });

  it('answers a wrong control request with 4xx and a reason', async () => {
    // Act
    const res = await fetch(`${fx.sim.origin}/_sim/usage`, { method: 'POST', body: '{"rows": 5}' });

    // Assess
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'body.rows must be an array' });
  });

  it('repeats list code and msg inside data, in the documented shapes', async () => {
    // Act
    const res = await fetch(`${fx.sim.url}/open/dynamic/flowReport`, {
      headers: { token: fx.sim.token },
    });
    const auth = await fetch(`${fx.sim.url}/open/dynamic/flowReport`);

    // Assess
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      code: 200,
      msg: '操作成功',
      data: { total: 0, rows: [], code: 200, msg: '查询成功', other: null },
    });
    expect(auth.status).toBe(200);
    expect(await auth.json()).toEqual({ code: 200, msg: '无效的认证令牌', data: null });
  });
});

describe('Function: remoteSimulator', () => {
  it('drives the simulator from another process through /_sim/', async () => {
    // Prepare
    const remote = remoteSimulator(fx.sim.origin);
    await remote.addCustomers([{ customerId: '5', account: 'r@e.mote' }]);
    await remote.setPool('primary', { residualMb: 1024 });
    await remote.setNow(new Date('2025-03-01T16:30:00Z'));
    await remote.addFault({ kind: 'drop-after-apply', endpoint: 'rechargeTrafficCount', times: 1 });

    // Act
    const outcome = await fx
      .client()
      .rechargeTrafficCount({ customerId: '5', orderId: 'r-1', trafficGb: new Decimal(1) });
    const ledger = await remote.ledger();
    const counters = await remote.counters();
    await remote.reset();

    // Assess
    expect(outcome.status).toBe('already-applied');
    expect(ledger).toEqual([
      {
        orderId: 'r-1',
        customerId: '5',
        trafficGb: '1',
        flowMb: '1024',
        createTime: '2025-03-02 00:30:00',
      },
    ]);
    expect(counters.rechargeTrafficCount).toBe(2);
    expect(await remote.getPools()).toMatchObject({ primary: { residualMb: '0' } });
  });
});

describe('Simulator seeding', () => {
  it('generates the same data from the same seed', async () => {
    // Prepare
    const a = await startSimulator({
      seed: 7,
      seedData: true,
      now: () => new Date('2025-06-01T00:00:00Z'),
    });
    const b = await startSimulator({
      seed: 7,
      seedData: true,
      now: () => new Date('2025-06-01T00:00:00Z'),
    });

    // Act
    const usageA = a.listUsage();
    const usageB = b.listUsage();
    await Promise.all([a.close(), b.close()]);

    // Assess
    expect(usageA).toHaveLength(150);
    expect(usageA).toEqual(usageB);
    expect(usageA[0]?.reportDate).toBe('2025-06-01');
  });

  it('runs standalone and prints its URL and token', async () => {
    // Prepare
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/simulator-main.ts'], {
      env: { ...process.env, SIM_PORT: '0', SIM_TOKEN: 'standalone-token' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    try {
      // Act
      while (!/IPWEB_TOKEN=\S+/.test(out)) await once(child.stdout, 'data');
      const url = /IPWEB_BASE_URL=(\S+)/.exec(out)?.[1] ?? '';
      const res = await fetch(`${url}/api/agent/getFlowTotalFull`, {
        headers: { token: 'standalone-token' },
      });

      // Assess
      expect(out).toContain('IPWEB_TOKEN=standalone-token');
      expect(await res.json()).toMatchObject({ code: 200, data: { account: {}, account2: {} } });
    } finally {
      child.kill('SIGTERM');
    }
  });
});
