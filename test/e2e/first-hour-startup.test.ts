import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/dynamodb-local.ts';
import { ROOT, type Runtime, spawnRuntime, waitUntilReady } from '../helpers/npm-start.ts';

const MAIN = join(ROOT, 'local/main.ts');
const TSX = import.meta.resolve('tsx');

/** local/main.ts from any working directory (for `.env`), with only the given environment. */
function runtime(cwd: string, env: Record<string, string>, script = MAIN): Runtime {
  return spawnRuntime(process.execPath, ['--import', TSX, script], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd, ...env },
  });
}

describe('npm start: the first minutes', () => {
  const running: Runtime[] = [];
  afterAll(async () => {
    for (const r of running) {
      if (r.child.exitCode === null) r.child.kill('SIGTERM');
      await r.exited;
    }
  });

  it('reads .env, and refuses a second start on its data directory or its port in one line', async () => {
    // Prepare: a project directory whose .env sets the port and the data directory.
    const cwd = mkdtempSync(join(tmpdir(), 'fp-e2e-first-'));
    const port = await freePort();
    const simPort = await freePort();
    writeFileSync(
      join(cwd, '.env'),
      `PORT=${port}\nSIMULATOR_PORT=${simPort}\nFLOWPILOT_DATA_DIR=state\nLOG_FORMAT=text\n`,
    );
    const first = runtime(cwd, {});
    running.push(first);
    await waitUntilReady(first, { text: 'FlowPilot is running', timeoutMs: 60_000 });

    // Act: the same directory again, then another directory on the same ports.
    const twice = runtime(cwd, {});
    const twiceCode = await twice.exited;
    const taken = runtime(cwd, {
      FLOWPILOT_DATA_DIR: join(cwd, 'other'),
      SIMULATOR_PORT: '0',
    });
    const takenCode = await taken.exited;
    const token = runtime(cwd, { IPWEB_TOKEN: 'real-token' });
    const tokenCode = await token.exited;
    // A configuration with a typo: npm start and demo:payment say the same.
    writeFileSync(join(cwd, 'bad.json'), '{"alert": {}}');
    const bad = { FLOWPILOT_CONFIG: 'bad.json', FLOWPILOT_DATA_DIR: join(cwd, 'bad') };
    const badStart = runtime(cwd, bad);
    const badDemo = runtime(cwd, bad, join(ROOT, 'scripts/demo-payment.ts'));
    const badCodes = [await badStart.exited, await badDemo.exited];

    // Assess
    expect(first.output()).toContain(
      `.env         read ${join(cwd, '.env')} (FLOWPILOT_DATA_DIR, LOG_FORMAT, PORT, SIMULATOR_PORT)`,
    );
    expect(first.output()).toContain(`http://127.0.0.1:${port}`);
    expect(first.output()).toContain(`STRIPE_WEBHOOK_SECRET=whsec_`);
    expect(twiceCode).toBe(1);
    expect(twice.output()).toBe(
      `flowpilot: the data directory ${join(cwd, 'state')} is in use by process ${first.child.pid} ` +
        `(npm start, port ${port}, since ${twice.output().match(/since ([\d-]+ [\d:]+) UTC/)?.[1]} UTC); ` +
        'stop it, or set FLOWPILOT_DATA_DIR to another directory\n',
    );
    expect(takenCode).toBe(1);
    expect(taken.output()).toBe(
      `flowpilot: port ${port} on 127.0.0.1 (PORT) is already in use by another program or ` +
        `another FlowPilot; pick another one, e.g. PORT=${port + 2} npm start\n`,
    );
    expect(badCodes).toEqual([1, 1]);
    expect(badStart.output()).toBe(
      `flowpilot: invalid ${join(cwd, 'bad.json')}:\n  alert: unknown key (did you mean alerts?)\n`,
    );
    expect(badDemo.output()).toBe(badStart.output());
    expect(tokenCode).toBe(1);
    expect(token.output()).toMatch(/IPWEB_TOKEN is set but IPWEB_BASE_URL is not/);
    // Readable log lines (LOG_FORMAT=text): the start poll, with its time and level.
    const deadline = Date.now() + 30_000;
    while (!/\d\d:\d\d:\d\dZ INFO {2}poll-totals: poll-totals done/.test(first.output())) {
      if (Date.now() > deadline) throw new Error(`no readable poll line:\n${first.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
  }, 120_000);
});
