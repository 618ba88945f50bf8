import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { SeriesStore } from '../../functions/commons/pollers/store/series.ts';
import { addDays, Decimal, gbToMb } from '../../functions/commons/units.ts';
import { createDynamicTrafficClient } from '../../functions/commons/upstream/client.ts';
import { run } from '../../local/cli/main.ts';
import { refuseOtherRuntime } from '../../local/cli/runtime-probe.ts';
import { startEmbeddedDynamoDb } from '../../local/runtime/dynamodb.ts';
import { LOCK_FILE } from '../../local/runtime/lock.ts';
import { startSimulator } from '../../local/simulator/index.ts';
import { renderStatusPage, statusDepsFor } from '../../local/status/page.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { useTempDirs } from '../helpers/temp-dirs.ts';

const tempDir = useTempDirs('fp-first-hour-');

describe('simulator state file', () => {
  it('keeps a recharge made over HTTP across a restart, so the orderId is still known', async () => {
    // Prepare
    const stateFile = join(tempDir(), 'simulator.json');
    const first = await startSimulator({ seedData: true, stateFile });
    const client = (url: string) =>
      createDynamicTrafficClient({
        baseUrl: url,
        token: first.token,
        timeoutMs: 5_000,
        retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      });
    await client(first.url).rechargeTrafficCount({
      customerId: '1001',
      orderId: 'order-1',
      trafficGb: new Decimal(10),
    });
    first.setPool('secondary', { residualMb: '2048' });
    const ledger = first.ledger();
    const pools = first.getPools();
    await first.close();

    // Act
    const second = await startSimulator({ seedData: true, stateFile });
    const again = await client(second.url).rechargeTrafficCount({
      customerId: '1001',
      orderId: 'order-1',
      trafficGb: new Decimal(10),
    });
    const after = { ledger: second.ledger(), pools: second.getPools() };
    await second.close();

    // Assess
    expect(ledger).toHaveLength(1);
    expect(after).toEqual({ ledger, pools });
    expect(pools.secondary.residualMb).toBe('2048');
    // A known orderId: "already processed", nothing moved twice.
    expect(again).toMatchObject({ status: 'already-applied' });
  });

  it('refuses a damaged state file with what to do', async () => {
    const stateFile = join(tempDir(), 'simulator.json');
    writeFileSync(stateFile, '{"version":1,');
    await expect(startSimulator({ stateFile })).rejects.toThrow(
      `the simulator state ${stateFile} is not JSON; delete it to start afresh`,
    );
  });
});

describe('status page: the last 30 days and the next runs', () => {
  let table: TestTable;
  beforeAll(async () => {
    table = await createTestTable('first-hour-page');
  });

  it('draws one slot per day of the window, empty where no figure is known, and says when jobs run', async () => {
    // Prepare: 04:00 UTC is noon in Asia/Shanghai, so yesterday there is 2026-03-09.
    const now = new Date('2026-03-10T04:00:00.000Z');
    await new SeriesStore(table.doc, table.tableName).putConsume(
      [0, 1, 5].map((i) => ({
        day: addDays('2026-03-09', -i),
        uploadMb: gbToMb(5),
        downloadMb: gbToMb(40),
      })),
      now,
    );
    const deps = {
      ...statusDepsFor(table.doc, table.tableName, parseConfig({}), () => now),
      nextRuns: () => [
        {
          name: 'poll-totals',
          expression: 'rate(5 minutes)',
          at: new Date('2026-03-10T04:05:00.000Z'),
        },
      ],
    };

    // Act
    const html = await renderStatusPage(deps);

    // Assess
    const chart = /<figure id="consumption-chart">([\s\S]*?)<\/figure>/.exec(html)?.[1] ?? '';
    const xs = [...chart.matchAll(/<rect class="bar" x="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(xs).toHaveLength(3);
    // Slots are 1/30 of the plot width each: the bars sit in slots 24, 28 and 29.
    const slot = (640 - 56 - 12) / 30;
    expect(xs.map((x) => Math.round((x - 56 - slot * 0.15) / slot))).toEqual([24, 28, 29]);
    expect(chart).toContain('2026-02-08');
    expect(html).toContain('Next runs: poll-totals 2026-03-10 04:05 UTC.');
  });
});

describe('Function: refuseOtherRuntime', () => {
  let server: Server;
  let port: number;
  const otherDir = '/srv/flowpilot/.data';
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', dataDir: otherDir }));
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const address = server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });
  afterAll(() => {
    server.close();
  });

  it('refuses to read another store while a runtime on PORT works on its own', async () => {
    const env = { PORT: String(port) };
    await expect(refuseOtherRuntime(env, '/home/me/.data')).rejects.toThrow(
      `the local runtime at http://127.0.0.1:${port} works on ${otherDir}, but this command ` +
        `would read /home/me/.data: run it with FLOWPILOT_DATA_DIR=${otherDir}`,
    );
    await expect(refuseOtherRuntime(env, otherDir)).resolves.toBeUndefined();
  });

  it('has nothing to say when nothing listens there', async () => {
    const quiet = createServer();
    await new Promise<void>((res) => quiet.listen(0, '127.0.0.1', res));
    const address = quiet.address();
    const free = typeof address === 'object' && address ? address.port : 0;
    await new Promise<void>((res) => quiet.close(() => res()));
    await expect(refuseOtherRuntime({ PORT: String(free) }, '/x')).resolves.toBeUndefined();
  });
});

describe('CLI on the local store', () => {
  class Out {
    text = '';
    write(chunk: string) {
      this.text += chunk;
      return true;
    }
  }

  it('says which store it reads, and names the process holding it instead of failing inside', async () => {
    // Prepare: a data directory with an embedded store and no runtime; PORT where nothing is.
    const dataDir = join(tempDir(), '.data');
    const store = await startEmbeddedDynamoDb(join(dataDir, 'dynamodb'));
    await store.close();
    const quiet = createServer();
    await new Promise<void>((res) => quiet.listen(0, '127.0.0.1', res));
    const address = quiet.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await new Promise<void>((res) => quiet.close(() => res()));
    const io = () => ({
      stdout: new Out(),
      stderr: new Out(),
      env: { FLOWPILOT_DATA_DIR: dataDir, PORT: String(port) },
      cwd: '/',
    });
    const free = io();
    const held = io();

    // Act
    const freeCode = await run(['status'], free);
    writeFileSync(
      join(dataDir, LOCK_FILE),
      JSON.stringify({
        pid: process.ppid,
        what: 'npm start, port 3000',
        since: '2026-03-10T04:00:00Z',
      }),
    );
    const heldCode = await run(['status'], held);

    // Assess
    expect(freeCode).toBe(0);
    expect(free.stderr.text).toBe(
      `flowpilot: reading local store ${join(dataDir, 'dynamodb')} (runtime not running), table flowpilot\n`,
    );
    expect(free.stdout.text).toContain('no snapshot yet for: primary, secondary');
    expect(heldCode).toBe(1);
    expect(held.stderr.text).toContain(
      `flowpilot status: the data directory ${dataDir} is in use by process ${process.ppid} (npm start, port 3000`,
    );
  });
});
