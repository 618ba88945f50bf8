import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addDays, dayInZone } from '../../functions/commons/units.ts';
import { freePort } from '../../scripts/dynamodb-local.ts';
import { npmStart, ROOT, type Runtime, stopGroup, waitUntilReady } from '../helpers/npm-start.ts';

/**
 * The shell commands of the README's "Quick start" section, in order: every line of its
 * `sh` blocks, comments removed, `a && b` split.
 */
function quickStartCommands(readme: string): string[] {
  const start = readme.indexOf('\n## Quick start');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks
    .flatMap((b) => b.split('\n'))
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '')
    .flatMap((line) => line.split(/\s*&&\s*/));
}

function sh(command: string, env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    execFile('sh', ['-c', command], { cwd: ROOT, env, timeout: 90_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('README quick start, as written, on a clean data directory', () => {
  const runtimes: Runtime[] = [];
  afterAll(async () => {
    for (const r of runtimes) await stopGroup(r, 'SIGINT');
  });

  it('runs every command of the quick start, then restarts with no alert', async () => {
    // Prepare: the README's commands, on free ports (the only change made to them) and a
    // fresh data directory. The local routes' token is fixed so curl-free commands and any
    // later token check agree.
    const commands = quickStartCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    expect(commands.slice(0, 3)).toEqual(['npm install', 'npm start', 'npm test']);
    const port = await freePort();
    const simPort = await freePort();
    const dataDir = join(mkdtempSync(join(tmpdir(), 'fp-readme-')), '.data');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      SIMULATOR_PORT: String(simPort),
      FLOWPILOT_DATA_DIR: dataDir,
      FLOWPILOT_LOCAL_TOKEN: randomBytes(16).toString('hex'),
      FLOWPILOT_CONFIG: '',
      FLOWPILOT_CONFIG_JSON: '',
      TABLE_NAME: '',
      AWS_ENDPOINT_URL_DYNAMODB: '',
      IPWEB_BASE_URL: '',
      IPWEB_TOKEN: '',
      SNS_TOPIC_ARN: '',
      LOG_FORMAT: '',
    };
    const local = (c: string) =>
      c
        .replaceAll('localhost:3000', `127.0.0.1:${port}`)
        .replaceAll('localhost:3001', `127.0.0.1:${simPort}`);
    const health = `http://127.0.0.1:${port}/health`;

    // Act: each command in turn. `npm install` has been done (node_modules is here) and
    // `npm test` is what runs this test; `npm start` runs in the background.
    const results: { command: string; code: number; stdout: string; stderr: string }[] = [];
    let first: Runtime | undefined;
    for (const command of commands) {
      if (command === 'npm install' || command === 'npm test') continue;
      if (command === 'npm start') {
        first = npmStart(env);
        runtimes.push(first);
        // The first snapshot is taken at start.
        await waitUntilReady(first, { url: health, text: 'poll-totals done' });
        continue;
      }
      results.push({ command, ...(await sh(local(command), env)) });
    }
    if (!first) throw new Error('the quick start never starts npm start');
    const page = await fetch(`http://127.0.0.1:${port}/`);
    const pageText = await page.text();
    const firstStatus = await sh('npx flowpilot status --json', env);
    await stopGroup(first, 'SIGINT');

    // Assess: every command succeeded and did what its comment says.
    for (const r of results) {
      expect({ command: r.command, code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    }
    const out = (prefix: string) =>
      results.filter((r) => r.command.startsWith(prefix)).map((r) => r.stdout);
    expect(out('npm run demo:payment')[0]).toContain('"result":"credited"');
    expect(out('npx flowpilot orders')[0]).toMatch(/CREDITED .*\b10\b.*\$5\.00/);
    expect(out('npx flowpilot invoke poll-totals')[0]).toMatch(/^poll-totals: ok/);
    expect(out('curl -X PUT')).toHaveLength(2);
    expect(first.output()).toMatch(
      /ALERT opened \| severity=critical rule=low-residual pool=primary/,
    );
    expect(first.output()).toMatch(/ALERT resolved .*pool=primary/);
    expect(page.status).toBe(200);
    expect(pageText).toContain('Next runs: poll-totals');
    expect(JSON.parse(firstStatus.stdout).openAlerts).toEqual([]);
    expect(first.output()).toMatch(/stopped\n/);

    // Act: start again on the same data, let the start poll run, reconcile today.
    const second = npmStart(env);
    runtimes.push(second);
    await waitUntilReady(second, { url: health, text: 'poll-totals done' });
    const today = dayInZone(new Date(), 'Asia/Shanghai');
    const reconciled = await sh(
      `npx flowpilot invoke reconcile --from ${addDays(today, -1)} --to ${today} --json`,
      env,
    );
    const status = await sh('npx flowpilot status --json', env);
    await stopGroup(second, 'SIGINT');

    // Assess: the simulator kept its ledger, so the credit is found upstream; nothing fired.
    expect(reconciled.code).toBe(0);
    const report = JSON.parse(reconciled.stdout).result as {
      counts: { ledger: number; matched: number; missingUpstream: number };
      alerted: boolean;
    };
    expect(report.counts).toMatchObject({ ledger: 1, matched: 1, missingUpstream: 0 });
    expect(report.alerted).toBe(false);
    expect(JSON.parse(status.stdout).openAlerts).toEqual([]);
    expect(second.output()).not.toContain('ALERT');
    expect(second.output()).toContain('FlowPilot is running');
  }, 300_000);
});
