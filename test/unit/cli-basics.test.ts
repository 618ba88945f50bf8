import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseOrderKey } from '../../local/cli/commands/orders.ts';
import {
  isProcessAlive,
  RUNTIME_INFO_FILE,
  readRuntimeInfo,
  removeRuntimeInfo,
  writeRuntimeInfo,
} from '../../local/cli/connection.ts';
import type { CliIo } from '../../local/cli/context.ts';
import { csv, table } from '../../local/cli/format.ts';
import { COMMANDS, run } from '../../local/cli/main.ts';
import { Progress } from '../../local/cli/progress.ts';

class Out {
  text = '';
  constructor(
    readonly isTTY = false,
    readonly columns = 80,
  ) {}
  write(chunk: string) {
    this.text += chunk;
    return true;
  }
}

function io(): CliIo & { stdout: Out; stderr: Out } {
  return { stdout: new Out(), stderr: new Out(), env: {}, cwd: '/nonexistent' };
}

/** Fails the test if a command line that should stop at its arguments opens anything. */
const mustNotOpen = async (): Promise<never> => {
  throw new Error('opened a connection for a command line that is wrong');
};

describe('Function: parseOrderKey', () => {
  it.each([
    ['stripe:cs_test_1', { provider: 'stripe', paymentId: 'cs_test_1' }],
    ['ORDER#epay#2026:01#x', { provider: 'epay', paymentId: '2026:01#x' }],
    ['standard:msg:with:colons', { provider: 'standard', paymentId: 'msg:with:colons' }],
  ])('reads %s', (text, key) => {
    expect(parseOrderKey(text)).toEqual(key);
  });

  it.each(['', 'stripe', 'stripe:', ':cs_1', 'ORDER#stripe', 'ORDER#stripe#', 'Stripe:cs_1'])(
    'refuses %j with a message saying what a key looks like',
    (text) => {
      expect(() => parseOrderKey(text)).toThrow(/provider:paymentId/);
    },
  );
});

describe('Function: run (arguments only)', () => {
  it.each([
    [['orders', '--state', 'DONE'], '--state must be one of RECEIVED'],
    [['orders', '--limit', '0'], '--limit must be a whole number from 1 to 1000'],
    [['order'], 'missing <key>'],
    [['order', 'stripe:a', 'extra'], 'unexpected argument "extra"'],
    [['status', '--verbose'], 'unknown option --verbose; options: --json, --help'],
    [['orders', '--stat', 'X'], 'unknown option --stat (did you mean --state?)'],
    [['usage', '--customer'], '--customer needs a value'],
    [
      ['invoke', 'poll-total'],
      'no function named "poll-total"; functions: poll-totals, poll-usage, poll-customers, reconcile',
    ],
    [['invoke', 'poll-totals', '--from', '2026-03-01', '--to', '2026-03-02'], 'for reconcile only'],
    [['backfill'], '--from is required'],
    [['backfill', '--from', '2026-13-01'], '--from must be a date as yyyy-MM-dd'],
    [['backfill', '--from', '2026-03-02', '--to', '2026-03-01'], 'is after'],
    [['replay', 'nonsense'], 'not an order key'],
    [['reconcile', '--to', '2026-03-01'], 'give both --from and --to'],
  ])(
    'exits 2 for %j, naming the problem and the usage, and opens nothing',
    async (argv, message) => {
      // Prepare
      const streams = io();

      // Act
      const code = await run(argv, streams, { openContext: mustNotOpen });

      // Assess
      expect(code).toBe(2);
      expect(streams.stderr.text).toContain(message);
      expect(streams.stderr.text).toMatch(/\nusage: flowpilot \w+/);
      expect(streams.stdout.text).toBe('');
    },
  );

  it('exits 2 for an unknown command and 0 with help for every command', async () => {
    // Prepare
    const unknown = io();
    const helps = COMMANDS.map(() => io());

    // Act
    const unknownCode = await run(['frob'], unknown, { openContext: mustNotOpen });
    const helpCodes = await Promise.all(
      COMMANDS.map((c, i) =>
        run([c.name, '--help'], helps[i] ?? io(), { openContext: mustNotOpen }),
      ),
    );

    // Assess
    expect(unknownCode).toBe(2);
    expect(unknown.stderr.text).toContain('unknown command "frob"');
    expect(helpCodes.every((c) => c === 0)).toBe(true);
    COMMANDS.forEach((c, i) => {
      expect(helps[i]?.stdout.text).toContain(`usage: ${c.usage}`);
    });
  });

  it('exits 1 with the reason when nothing can be opened', async () => {
    // Prepare
    const streams = io();

    // Act
    const code = await run(['status'], streams);

    // Assess
    expect(code).toBe(1);
    expect(streams.stderr.text).toContain(
      'flowpilot status: no FlowPilot data in /nonexistent/.data',
    );
  });
});

describe('Module: format', () => {
  it('aligns columns, right-aligning numbers', () => {
    const text = table(
      [
        { a: 'x', n: '1' },
        { a: 'longer', n: '1,000' },
      ],
      [
        { header: 'NAME', value: (r) => r.a },
        { header: 'N', value: (r) => r.n, align: 'right' },
      ],
    );
    expect(text).toBe('NAME        N\nx           1\nlonger  1,000\n');
  });

  it('writes RFC 4180 CSV and defuses spreadsheet formulas', () => {
    expect(
      csv(
        ['a', 'b'],
        [
          ['x,y', 'say "hi"'],
          ['=1+1', '-5'],
        ],
      ),
    ).toBe('a,b\r\n"x,y","say ""hi"""\r\n\'=1+1,-5\r\n');
  });
});

describe('Class: Progress', () => {
  it('redraws one line on a terminal and ends it with a newline', () => {
    const out = new Out(true, 60);
    const bar = new Progress(out, 'backfill');
    bar.update(1, 4, 'pages');
    bar.update(4, 4, 'pages');
    bar.done();
    // 60 columns leave a 38-character bar beside the label and the count.
    expect(out.text).toBe(
      `\rbackfill [${'#'.repeat(10)}${'-'.repeat(28)}] 1/4 pages\x1b[K` +
        `\rbackfill [${'#'.repeat(38)}] 4/4 pages\x1b[K\n`,
    );
  });

  it('writes plain lines when not a terminal', () => {
    const out = new Out(false);
    const bar = new Progress(out, 'backfill');
    bar.update(1, 2, 'pages');
    bar.update(2, 2, 'pages');
    bar.done();
    expect(out.text).toBe('backfill: 1/2 pages\nbackfill: 2/2 pages\n');
  });
});

describe('Module: runtime info', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('writes the file for its owner only, reads it back, and removes only its own', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'flowpilot-info-'));
    dirs.push(dir);
    const info = {
      pid: process.pid,
      dynamoEndpoint: 'http://127.0.0.1:8000',
      tableName: 'flowpilot',
      upstreamBaseUrl: 'http://127.0.0.1:4010/prod-api',
      upstreamToken: 'simulator-token',
      httpUrl: 'http://127.0.0.1:3000',
      localToken: 'per-run-token-0123456789',
    };

    // Act
    const path = writeRuntimeInfo(dir, info);
    const read = readRuntimeInfo(dir);
    removeRuntimeInfo(dir, process.pid + 1);
    const afterOther = readRuntimeInfo(dir);
    removeRuntimeInfo(dir);

    // Assess
    expect(path).toBe(join(dir, RUNTIME_INFO_FILE));
    expect(statSync(path, { throwIfNoEntry: false })).toBeUndefined();
    expect(read).toEqual(info);
    expect(afterOther).toEqual(info);
    expect(readRuntimeInfo(dir)).toBeUndefined();
  });

  it('keeps the file private, refuses to write a bad one and ignores a malformed one', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'flowpilot-info-'));
    dirs.push(dir);
    const path = writeRuntimeInfo(dir, {
      pid: 1,
      dynamoEndpoint: 'http://127.0.0.1:8000',
      tableName: 't',
      upstreamBaseUrl: 'http://127.0.0.1:1',
      httpUrl: 'http://127.0.0.1:3000',
      localToken: 'per-run-token-0123456789',
    });

    // Act
    const mode = statSync(path).mode & 0o777;
    const badWrite = () => writeRuntimeInfo(dir, { pid: 1, tableName: 't' } as never);
    writeFileSync(path, '{"pid": "nope"');

    // Assess
    expect(mode).toBe(0o600);
    expect(badWrite).toThrow();
    expect(readRuntimeInfo(dir)).toBeUndefined();
  });

  it('tells a live process from a gone one', () => {
    expect(isProcessAlive(process.pid)).toBe(true);
    expect(isProcessAlive(99_999_999)).toBe(false);
  });
});
