import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitOnMissedGoals, goal, meets } from '../../bench/goal.ts';
import { loadConfigFile, parseConfig } from '../../functions/commons/config/load.ts';
import { money } from '../../functions/commons/money.ts';
import { Decimal } from '../../functions/commons/units.ts';
import { run } from '../../local/cli/main.ts';
import { describeDotEnv, loadDotEnv } from '../../local/runtime/dotenv.ts';
import { readLocalEnv, simulatorPortFor } from '../../local/runtime/env.ts';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../local/runtime/lock.ts';
import { formatLogLine, readableLogsWanted } from '../../local/runtime/log-format.ts';
import { listen, PortInUseError, startupFailure } from '../../local/runtime/startup.ts';
import { decode, encode } from '../../local/simulator/snapshot.ts';
import { SimState } from '../../local/simulator/state.ts';
import { useTempDirs } from '../helpers/temp-dirs.ts';

const tempDir = useTempDirs('fp-first-hour-');

class Out {
  text = '';
  write(chunk: string) {
    this.text += chunk;
    return true;
  }
}

describe('Function: loadDotEnv', () => {
  it('sets what the environment does not, leaving set variables (even empty ones) alone', () => {
    // Prepare
    const dir = tempDir();
    writeFileSync(
      join(dir, '.env'),
      '# local\nPORT=3100\nFLOWPILOT_DATA_DIR=".data-b"\nLOG_FORMAT=json\n',
    );
    const env: NodeJS.ProcessEnv = { PORT: '3200', LOG_FORMAT: '' };

    // Act
    const loaded = loadDotEnv(env, dir);

    // Assess
    expect(env).toEqual({ PORT: '3200', LOG_FORMAT: '', FLOWPILOT_DATA_DIR: '.data-b' });
    expect(loaded?.applied).toEqual(['FLOWPILOT_DATA_DIR']);
    expect(describeDotEnv(loaded)).toBe(`read ${join(dir, '.env')} (FLOWPILOT_DATA_DIR)`);
  });

  it('does nothing without a .env file', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(loadDotEnv(env, tempDir())).toBeUndefined();
    expect(env).toEqual({});
  });
});

describe('Function: readLocalEnv (first-hour rules)', () => {
  it('refuses IPWEB_TOKEN without IPWEB_BASE_URL instead of keeping the simulator', () => {
    expect(() => readLocalEnv({ IPWEB_TOKEN: 'secret' }, '/tmp')).toThrow(
      /IPWEB_TOKEN is set but IPWEB_BASE_URL is not/,
    );
  });

  it('puts the simulator on PORT + 1 unless SIMULATOR_PORT says otherwise', () => {
    expect(readLocalEnv({}, '/tmp').simulatorPort).toBe(3001);
    expect(readLocalEnv({ PORT: '4000' }, '/tmp').simulatorPort).toBe(4001);
    expect(readLocalEnv({ PORT: '4000', SIMULATOR_PORT: '5000' }, '/tmp').simulatorPort).toBe(5000);
    expect(simulatorPortFor(0)).toBe(0);
    expect(simulatorPortFor(65_535)).toBe(65_534);
  });
});

describe('Function: lockDataDir', () => {
  it('names the live process that holds the directory, and takes over a dead one', () => {
    // Prepare: the parent of this process stands for another runtime.
    const held = tempDir();
    const since = '2026-03-10T04:00:00.000Z';
    writeFileSync(
      join(held, LOCK_FILE),
      JSON.stringify({ pid: process.ppid, what: 'npm start, port 3000', since }),
    );
    const stale = tempDir();
    writeFileSync(
      join(stale, LOCK_FILE),
      JSON.stringify({ pid: 99_999_999, what: 'npm start, port 3000', since }),
    );

    // Act
    let refusal: unknown;
    try {
      lockDataDir(held, 'npm start, port 3002');
    } catch (err) {
      refusal = err;
    }
    const taken = lockDataDir(stale, 'npm start, port 3002');
    const holder = JSON.parse(readFileSync(join(stale, LOCK_FILE), 'utf8'));
    taken.release();

    // Assess
    expect(refusal).toBeInstanceOf(DataDirInUseError);
    expect(startupFailure(refusal)).toBe(
      `flowpilot: the data directory ${held} is in use by process ${process.ppid} ` +
        '(npm start, port 3000, since 2026-03-10 04:00:00 UTC); stop it, or set ' +
        'FLOWPILOT_DATA_DIR to another directory',
    );
    expect(holder).toMatchObject({ pid: process.pid, what: 'npm start, port 3002' });
    expect(() => readFileSync(join(stale, LOCK_FILE))).toThrow(/ENOENT/);
  });
});

describe('Function: listen', () => {
  it('says which setting chose a taken port and how to pick another', async () => {
    // Prepare
    const holder = createServer();
    await new Promise<void>((res) => holder.listen(0, '127.0.0.1', res));
    const address = holder.address();
    const port = typeof address === 'object' && address ? address.port : 0;

    // Act
    const failure = await listen(createServer(), {
      host: '127.0.0.1',
      port,
      variable: 'PORT',
      example: `PORT=${port + 2} npm start`,
    }).catch((err: unknown) => err);
    holder.close();

    // Assess
    expect(failure).toBeInstanceOf(PortInUseError);
    expect(startupFailure(failure)).toBe(
      `flowpilot: port ${port} on 127.0.0.1 (PORT) is already in use by another program or ` +
        `another FlowPilot; pick another one, e.g. PORT=${port + 2} npm start`,
    );
  });
});

describe('Function: formatLogLine', () => {
  const line = JSON.stringify({
    level: 'WARN',
    message: 'poll-totals failed',
    timestamp: '2026-03-10T04:05:06.789Z',
    service: 'flowpilot',
    cold_start: false,
    function_name: 'poll-totals',
    function_request_id: 'abc',
    sampling_rate: 0,
    outcome: { ok: false, reason: 'auth' },
    note: 'two words',
    error: { name: 'UpstreamAuthError', message: 'token rejected', location: 'client.ts:10' },
  });

  it('prints time, level, function, message and the key fields on one short line', () => {
    expect(formatLogLine(line, { color: false })).toBe(
      '04:05:06Z WARN  poll-totals: poll-totals failed  outcome.ok=false  outcome.reason=auth' +
        '  note="two words"  error=UpstreamAuthError: token rejected (client.ts:10)',
    );
  });

  it('colours the level on a terminal', () => {
    expect(formatLogLine(line, { color: true })).toContain('\x1b[33mWARN ');
  });

  it('leaves lines that are not Powertools logs to print as they are', () => {
    expect(formatLogLine('plain text', { color: false })).toBeUndefined();
    expect(formatLogLine('{"not":"a log"}', { color: false })).toBeUndefined();
  });

  it('is readable on a terminal, JSON elsewhere or when LOG_FORMAT=json', () => {
    expect(readableLogsWanted({}, true)).toBe(true);
    expect(readableLogsWanted({}, false)).toBe(false);
    expect(readableLogsWanted({ LOG_FORMAT: 'json' }, true)).toBe(false);
    expect(readableLogsWanted({ LOG_FORMAT: 'text' }, false)).toBe(true);
  });
});

describe('Class: SimState snapshot', () => {
  const clock = { now: () => new Date('2026-03-10T04:00:00.000Z') };

  it('restores every data field, a recharge included, through JSON text', () => {
    // Prepare
    const before = new SimState(clock, 'Asia/Shanghai', 7, true);
    before.answer('rechargeTrafficCount', {
      customerId: '1001',
      orderId: 'o-1',
      trafficCount: '10',
    });
    before.setPool('secondary', { residualMb: '1024.5' });

    // Act
    const text = JSON.stringify(encode(before.toSnapshot()));
    const after = new SimState(clock, 'Asia/Shanghai', 1, false);
    after.restore(decode(JSON.parse(text)) as Record<string, unknown>);

    // Assess
    expect(after.ledger()).toEqual(before.ledger());
    expect(after.getPools()).toEqual(before.getPools());
    expect(after.listCustomers()).toEqual(before.listCustomers());
    expect(after.listUsage()).toEqual(before.listUsage());
    expect(after.listRecords()).toEqual(before.listRecords());
    expect(
      after.answer('rechargeTrafficCount', {
        customerId: '1001',
        orderId: 'o-1',
        trafficCount: '10',
      }),
    ).toMatchObject({ code: 201 });
  });

  it('saves a field added to the state with no further code', () => {
    // Prepare: a later version of the state with one more field.
    class Later extends SimState {
      balances = new Map([['1001', { mb: new Decimal('1.25'), at: 'x' }]]);
    }
    const before = new Later(clock, 'Asia/Shanghai', 1, false);

    // Act
    const after = new Later(clock, 'Asia/Shanghai', 1, false);
    after.balances = new Map();
    after.restore(
      decode(JSON.parse(JSON.stringify(encode(before.toSnapshot())))) as Record<string, unknown>,
    );

    // Assess
    expect(after.balances.get('1001')?.mb.toFixed()).toBe('1.25');
    expect(Object.keys(before.toSnapshot())).not.toContain('clock');
  });
});

describe('Function: money', () => {
  it.each([
    [500, 'usd', '$5.00'],
    [3800, 'cny', 'CN¥38.00'],
    [500, 'jpy', '¥500'],
    [12345, 'bhd', 'BHD\u00a012.345'],
    ['123456789012345678', 'usd', '$1,234,567,890,123,456.78'],
  ])('shows %s %s minor units as %s', (minor, currency, text) => {
    expect(money(minor, currency)).toBe(text);
  });

  it('keeps the same answers when formatters are reused, and names codes Intl does not know', () => {
    expect([money(500, 'usd'), money(750, 'USD'), money(500, 'usd')]).toEqual([
      '$5.00',
      '$7.50',
      '$5.00',
    ]);
    expect([money(500, 'not-a-code'), money(600, 'not-a-code')]).toEqual([
      '500 not-a-code (minor units)',
      '600 not-a-code (minor units)',
    ]);
  });
});

describe('Module: bench goals', () => {
  it('marks a figure that misses its goal and makes the bench exit non-zero', () => {
    // Prepare
    const lines: string[] = [];
    const previous = process.exitCode;

    // Act
    const met = goal(1.1, { name: 'ratio', op: '<=', limit: 1.15, unit: 'x' });
    const missed = goal(1.3, { name: 'ratio', op: '<=', limit: 1.15, unit: 'x' });
    exitOnMissedGoals((l) => lines.push(l));
    const code = process.exitCode;
    process.exitCode = previous;

    // Assess
    expect(met).toBe(' ✓ goal <= 1.15x');
    expect(missed).toBe(' ✗ MISSED goal <= 1.15x');
    expect(lines).toEqual(['MISSED 1 goal(s):\n  ratio: 1.3x, goal <= 1.15x']);
    expect(code).toBe(1);
    expect(meets(5, { op: '>=', limit: 5 })).toBe(true);
  });
});

describe('Module: configuration messages', () => {
  it('suggests the key a typo meant', () => {
    expect(() => parseConfig({ alert: {} })).toThrow(
      'invalid configuration:\n  alert: unknown key (did you mean alerts?)',
    );
    expect(() => parseConfig({ payments: { catalg: {} } })).toThrow(
      'payments.catalg: unknown key (did you mean payments.catalog?)',
    );
    expect(() => parseConfig({ zzz: 1 })).toThrow(/zzz: unknown key$/);
  });

  it('names the line and column of a JSON syntax error', () => {
    const file = join(tempDir(), 'flowpilot.config.json');
    writeFileSync(file, '{\n  "alerts": {\n    "reminderMinutes": 30,\n  }\n}\n');
    expect(() => loadConfigFile(file)).toThrow(
      `invalid ${file}: not JSON at line 4, column 3 (found "}")`,
    );
  });
});

describe('Function: run (first-hour CLI)', () => {
  it('prints the version, and help when given nothing', async () => {
    // Prepare
    const io = () => ({ stdout: new Out(), stderr: new Out(), env: {}, cwd: '/nonexistent' });
    const version = io();
    const none = io();
    const flag = io();
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

    // Act
    const codes = [
      await run(['--version'], version),
      await run([], none),
      await run(['--jsn'], flag),
    ];

    // Assess
    expect(codes).toEqual([0, 0, 2]);
    expect(version.stdout.text).toBe(`flowpilot ${pkg.version}\n`);
    expect(none.stdout.text).toContain('usage: flowpilot <command> [options]');
    expect(flag.stderr.text).toContain('flowpilot: unknown option "--jsn"');
  });
});
