import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { documentClient } from '../../functions/commons/clients/dynamodb.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { ensureTable } from '../../functions/commons/store/table.ts';
import { gbToMb } from '../../functions/commons/units.ts';
import { writeRuntimeInfo } from '../../local/cli/connection.ts';
import { startEmbeddedDynamoDb } from '../../local/runtime/dynamodb.ts';
import { Invoker } from '../../local/runtime/functions.ts';
import { createHttpServer } from '../../local/runtime/http.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';

const BIN = resolve('bin/flowpilot.js');

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real executable with only the environment given (plus PATH and HOME). */
function flowpilot(
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
): Promise<Ran> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: opts.cwd,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? opts.cwd,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          ...opts.env,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

const snapshot = (pool: 'primary' | 'secondary', residualGb: number) => ({
  pool,
  at: '2026-03-10T03:55:00.000Z',
  pollId: 'bin-test',
  rechargedMb: gbToMb(1000),
  consumedMb: gbToMb(1000 - residualGb),
  residualMb: gbToMb(residualGb),
});

describe('bin/flowpilot.js as a child process', () => {
  let table: TestTable;
  let cwd: string;

  beforeAll(async () => {
    table = await createTestTable('cli-bin');
    await new SnapshotStore(table.doc, table.tableName).put([snapshot('primary', 321)]);
    cwd = mkdtempSync(join(tmpdir(), 'flowpilot-cli-'));
  });

  afterAll(() => {
    rmSync(cwd, { recursive: true, force: true });
  });

  it('prints help with exit 0 and refuses a bad argument with exit 2 and nothing on stdout', async () => {
    // Act
    const [help, bad, unknown] = await Promise.all([
      flowpilot(['--help'], { cwd }),
      flowpilot(['orders', '--state', 'NOPE'], { cwd }),
      flowpilot(['frobnicate'], { cwd }),
    ]);

    // Assess
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: flowpilot <command> [options]');
    expect(help.stdout).toContain('exit codes: 0 ok, 1 failed, 2 bad arguments, 3 not found');
    expect(help.stderr).toBe('');
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(
      /^flowpilot orders: --state must be one of RECEIVED, .*; got "NOPE"\n/,
    );
    expect(bad.stderr).toContain('usage: flowpilot orders [--state STATE]');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });

  it('works on the table named by TABLE_NAME (a deployed stack): JSON out, exit 3 for no order', async () => {
    // Prepare
    const env = {
      TABLE_NAME: table.tableName,
      AWS_ENDPOINT_URL_DYNAMODB: inject('dynamoEndpoint'),
    };

    // Act
    const [status, missing] = await Promise.all([
      flowpilot(['status', '--json'], { cwd, env }),
      flowpilot(['order', 'stripe:cs_missing'], { cwd, env }),
    ]);

    // Assess
    expect(status.code).toBe(0);
    expect(status.stderr).toBe('');
    const out = JSON.parse(status.stdout) as { pools: { pool: string; residualGb: string }[] };
    expect(out.pools.map((p) => [p.pool, p.residualGb])).toEqual([['primary', '321']]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe('flowpilot order: no order stripe:cs_missing\n');
  });

  it('finds a running local runtime through runtime.json, and ignores one whose process is gone', async () => {
    // Prepare: this test process, with the runtime's HTTP front, stands in for `npm start`.
    const running = mkdtempSync(join(tmpdir(), 'flowpilot-rt-'));
    const stale = mkdtempSync(join(tmpdir(), 'flowpilot-stale-'));
    const localToken = 'per-run-token-0123456789';
    const front = createHttpServer({
      invoker: new Invoker(),
      health: () => ({}),
      localToken,
      allowedHosts: new Set(['127.0.0.1']),
      runtime: () => ({ pid: process.pid }),
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const address = front.address();
    const info = {
      dynamoEndpoint: inject('dynamoEndpoint'),
      tableName: table.tableName,
      upstreamBaseUrl: 'http://127.0.0.1:9/prod-api',
      httpUrl: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
      localToken,
    };
    writeRuntimeInfo(join(running, '.data'), { ...info, pid: process.pid });
    // A pid far above any real one (Linux caps them at 2^22).
    writeRuntimeInfo(join(stale, '.data'), { ...info, pid: 99_999_999 });

    try {
      // Act
      const [live, gone] = await Promise.all([
        flowpilot(['status', '--json'], { cwd: running }),
        flowpilot(['status'], { cwd: stale }),
      ]);

      // Assess
      expect(live.code).toBe(0);
      expect(JSON.parse(live.stdout).pools[0].residualGb).toBe('321');
      expect(gone.code).toBe(1);
      expect(gone.stderr).toContain('no FlowPilot data in');
      expect(gone.stderr).toContain('start the local runtime (npm start)');
    } finally {
      front.close();
      rmSync(running, { recursive: true, force: true });
      rmSync(stale, { recursive: true, force: true });
    }
  });

  it("opens the local runtime's store on disk itself when the runtime is stopped", async () => {
    // Prepare: data written by an embedded engine that is then closed, as after `npm start`.
    const dir = mkdtempSync(join(tmpdir(), 'flowpilot-embedded-'));
    const engine = await startEmbeddedDynamoDb(join(dir, '.data', 'dynamodb'));
    const client = new DynamoDBClient({
      endpoint: engine.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await ensureTable(client, 'flowpilot');
    await new SnapshotStore(documentClient(client), 'flowpilot').put([snapshot('secondary', 77)]);
    client.destroy();
    await engine.close();

    try {
      // Act
      const status = await flowpilot(['status', '--json'], { cwd: dir });

      // Assess
      expect(status.code).toBe(0);
      const out = JSON.parse(status.stdout) as { pools: { pool: string; residualGb: string }[] };
      expect(out.pools.map((p) => [p.pool, p.residualGb])).toEqual([['secondary', '77']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
