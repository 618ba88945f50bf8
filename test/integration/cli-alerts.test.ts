import { beforeEach, describe, expect, it } from 'vitest';
import { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { cliHarness } from '../helpers/cli.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';

const NOW = new Date('2026-03-10T04:00:00.000Z');
const config = parseConfig({
  alerts: {
    maintenance: [{ name: 'nightly', start: '03:00', end: '05:00', rules: ['data-stale'] }],
  },
});

/** The CLI on the test table, at NOW plus what `at` moves the clock by. */
function harness(table: TestTable) {
  let now = NOW;
  return {
    ...cliHarness(table, { config, clock: () => now }),
    at: (minutes: number) => {
      now = new Date(NOW.getTime() + minutes * 60_000);
    },
  };
}

async function openAlert(table: TestTable, rule: 'low-residual' | 'data-stale', subject: string) {
  const opened = new Date(NOW.getTime() - 90 * 60_000);
  await new AlertStateStore({ client: table.doc, tableName: table.tableName }).save(
    {
      rule,
      subject,
      status: 'warning',
      version: 1,
      openedAt: opened,
      lastNotifiedAt: opened,
      summary: `${subject} is not well`,
      updatedAt: opened,
    },
    undefined,
  );
}

describe('flowpilot silence and alerts (DynamoDB Local)', () => {
  let table: TestTable;
  let h: ReturnType<typeof harness>;

  beforeEach(async () => {
    table = await createTestTable('cli-alerts');
    h = harness(table);
  });

  it('adds, lists and expires a silence', async () => {
    // Act
    const added = await h.cli(
      'silence',
      'add',
      '--rule',
      'low-residual',
      '--pool',
      'primary',
      '--for',
      '2h',
      '--reason',
      'refill ordered',
      '--by',
      'ana',
      '--json',
    );
    const silence = h.json() as { id: string; endsAt: string; active: boolean };
    const listed = await h.cli('silence', 'list');
    const listText = h.stdout.text;
    h.at(10);
    const expired = await h.cli('silence', 'expire', silence.id);
    const expireText = h.stdout.text;
    await h.cli('silence', 'list', '--json');
    const activeAfter = h.json();
    await h.cli('silence', 'list', '--all', '--json');
    const allAfter = h.json() as { id: string; active: boolean; expiredAt: string }[];

    // Assess
    expect([added, listed, expired]).toEqual([0, 0, 0]);
    expect(silence).toMatchObject({
      rule: 'low-residual',
      subject: 'primary',
      endsAt: '2026-03-10T06:00:00.000Z',
      active: true,
      reason: 'refill ordered',
      by: 'ana',
    });
    expect(silence.id).toMatch(/^s-[0-9a-f]{8}$/);
    expect(listText).toContain(silence.id);
    expect(listText).toMatch(
      /low-residual\s+primary\s+2026-03-10 06:00 UTC\s+active\s+ana\s+refill ordered/,
    );
    expect(expireText).toBe(
      `silence ${silence.id} (low-residual on primary) ended 2026-03-10 04:10 UTC\n`,
    );
    expect(activeAfter).toEqual([]);
    expect(allAfter).toMatchObject([
      { id: silence.id, active: false, expiredAt: '2026-03-10T04:10:00.000Z' },
    ]);
  });

  it('refuses bad silence arguments without storing anything, and a missing id with exit 3', async () => {
    // Act
    const codes = [
      await h.cli('silence', 'add', '--for', '2x', '--reason', 'r'),
      await h.cli('silence', 'add', '--pool', 'tertiary', '--for', '2h', '--reason', 'r'),
      await h.cli('silence', 'add', '--rule', 'nope', '--for', '2h', '--reason', 'r'),
      await h.cli('silence', 'add', '--for', '2h'),
      await h.cli('silence', 'list', '--rule', 'forecast'),
      await h.cli('silence'),
    ];
    const usage = h.stderr.text;
    await h.cli('silence', 'list', '--all', '--json');
    const stored = h.json();
    const missing = await h.cli('silence', 'expire', 's-00000000');

    // Assess
    expect(codes).toEqual([2, 2, 2, 2, 2, 2]);
    expect(usage).toContain('missing <add|list|expire>');
    expect(stored).toEqual([]);
    expect(missing).toBe(3);
    expect(h.stderr.text).toContain('no silence s-00000000');
  });

  it('lists open alerts with age, last notified, ack and silence, and acknowledges one', async () => {
    // Prepare
    await openAlert(table, 'low-residual', 'primary');
    await openAlert(table, 'data-stale', 'upstream');
    await h.cli('silence', 'add', '--pool', 'primary', '--for', '1d', '--reason', 'refill');
    const silenceId = h.stdout.text.match(/silence (s-[0-9a-f]+)/)?.[1];

    // Act
    const acked = await h.cli(
      'alerts',
      'ack',
      'low-residual/primary',
      '--for',
      '8h',
      '--by',
      'ana',
    );
    const ackText = h.stdout.text;
    const listed = await h.cli('alerts');
    const listText = h.stdout.text;
    await h.cli('alerts', '--json');
    const json = h.json() as Record<string, unknown>[];
    const notOpen = await h.cli('alerts', 'ack', 'forecast/primary');
    const badId = await h.cli('alerts', 'ack', 'primary');

    // Assess
    expect([acked, listed, notOpen, badId]).toEqual([0, 0, 3, 2]);
    expect(ackText).toBe(
      'acknowledged low-residual/primary (warning): no reminders until 2026-03-10 12:00 UTC or its status changes\n',
    );
    expect(listText).toMatch(
      /data-stale\/upstream\s+warning\s+1 h 30 min\s+2026-03-10 02:30 UTC\s+-\s+window nightly/,
    );
    expect(listText).toMatch(
      new RegExp(
        `low-residual/primary\\s+warning\\s+1 h 30 min\\s+2026-03-10 02:30 UTC\\s+ana until 2026-03-10 12:00 UTC\\s+${silenceId} until 2026-03-11 04:00 UTC\\s+primary is not well`,
      ),
    );
    expect(json).toContainEqual(
      expect.objectContaining({
        id: 'low-residual/primary',
        ageMinutes: 90,
        lastNotifiedAt: '2026-03-10T02:30:00.000Z',
        ack: { at: '2026-03-10T04:00:00.000Z', by: 'ana', until: '2026-03-10T12:00:00.000Z' },
        silence: `${silenceId} until 2026-03-11 04:00 UTC`,
      }),
    );
  });
});
