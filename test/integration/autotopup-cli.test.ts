import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { type CliHarness, cliHarness } from '../helpers/cli.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { RecordingSink } from './payments-fixtures.ts';

const NOW = new Date('2026-12-01T04:00:00.000Z');
const config = parseConfig({
  payments: { catalog: { 'gb-100': { gb: 100, price: 8000, currency: 'usd' } } },
});

class ResolvingSink extends RecordingSink {
  static resolved: string[] = [];
  async resolve(_kind: string, subject: string): Promise<boolean> {
    ResolvingSink.resolved.push(subject);
    return true;
  }
}

describe('flowpilot autotopup (DynamoDB Local)', () => {
  let table: TestTable;
  let h: CliHarness;

  beforeAll(async () => {
    table = await createTestTable('autotopup-cli');
    h = cliHarness(table, {
      config,
      clock: () => NOW,
      sink: new ResolvingSink(),
      env: { USER: 'alice' },
    });
  });

  const cli = (...argv: string[]) => h.cli(...argv);

  it('refuses to turn on without a saved card, and says how to get one', async () => {
    expect(await cli('autotopup', 'set', '88', '--package', 'gb-100', '--below-gb', '20')).toBe(2);
    expect(h.stderr.text).toContain('setup_future_usage=off_session');
    expect(h.stderr.text).toContain('epay or Standard Webhooks');
    expect(await cli('autotopup', 'show', '88')).toBe(3);
  });

  it('refuses bad settings before writing anything', async () => {
    expect(
      await cli(
        'autotopup',
        'set',
        '77',
        '--package',
        'gb-999',
        '--below-gb',
        '20',
        '--payment-method',
        'pm_card_visa',
        '--stripe-customer',
        'cus_1',
      ),
    ).toBe(2);
    expect(h.stderr.text).toContain('package "gb-999" is not in the catalog (sold: gb-100)');
    expect(
      await cli(
        'autotopup',
        'set',
        '77',
        '--package',
        'gb-100',
        '--below-gb',
        '-3',
        '--payment-method',
        'pm_card_visa',
        '--stripe-customer',
        'cus_1',
      ),
    ).toBe(2);
    expect(
      await cli(
        'autotopup',
        'set',
        '77',
        '--package',
        'gb-100',
        '--below-gb',
        '20',
        '--payment-method',
        'pm_card_visa',
      ),
    ).toBe(2);
    expect(h.stderr.text).toContain('--payment-method and --stripe-customer together');
    expect(await cli('autotopup', 'off', '77', '--package', 'gb-100')).toBe(2);
    expect(await cli('autotopup', 'pause', '77')).toBe(2);
    expect(await cli('autotopup', 'history', '77')).toBe(3);
  });

  it('sets, shows, changes, turns off, and records who did what and when', async () => {
    expect(
      await cli(
        'autotopup',
        'set',
        '88',
        '--package',
        'gb-100',
        '--below-gb',
        '20',
        '--or-days-left',
        '2',
        '--max-per-month',
        '3',
        '--payment-method',
        'pm_card_visa',
        '--stripe-customer',
        'cus_88',
      ),
    ).toBe(0);
    expect(h.stdout.text).toBe(
      'auto top-up on for customer 88: gb-100 × 1 when below 20 GB or 2 days left, at most 3 a month\n',
    );
    expect(
      await cli(
        'autotopup',
        'set',
        '88',
        '--package',
        'gb-100',
        '--quantity',
        '2',
        '--below-gb',
        '30.5',
      ),
    ).toBe(0);
    expect(await cli('autotopup', 'show', '88')).toBe(0);
    expect(h.stdout.text).toContain('auto top-up: on');
    expect(h.stdout.text).toContain('gb-100 × 2 when below 30.5 GB, at most 3 a month');
    expect(h.stdout.text).toContain('pm_card_visa (cus_88)');
    expect(await cli('autotopup', 'off', '88')).toBe(0);
    expect(await cli('autotopup', 'show', '88', '--json')).toBe(0);
    expect(JSON.parse(h.stdout.text)).toMatchObject({
      customerId: '88',
      enabled: false,
      updatedBy: 'cli:alice',
    });

    expect(await cli('autotopup', 'history', '88', '--json')).toBe(0);
    const lines = JSON.parse(h.stdout.text) as {
      by: string;
      event: string;
      detail: string;
      at: string;
    }[];
    expect(lines.map((l) => [l.event, l.by])).toEqual([
      ['off', 'cli:alice'],
      ['settings', 'cli:alice'],
      ['on', 'cli:alice'],
    ]);
    expect(lines.every((l) => l.at === NOW.toISOString())).toBe(true);
    expect(lines[2]?.detail).toContain('card pm_card_visa of cus_88');
    expect(await cli('autotopup', 'history', '88')).toBe(0);
    expect(h.stdout.text.split('\n')[0]).toMatch(/^WHEN\s+BY\s+EPISODE\s+EVENT\s+DETAIL$/);

    // Turning it back on closes the agent's "turned off" alert
    expect(ResolvingSink.resolved).toEqual([]);
    expect(await cli('autotopup', 'set', '88', '--package', 'gb-100', '--below-gb', '20')).toBe(0);
    expect(ResolvingSink.resolved).toEqual(['autotopup:88:off:0']);
  });

  it('reads 0066 as customer 66 in every action', async () => {
    const card = ['--payment-method', 'pm_card_visa', '--stripe-customer', 'cus_66'];
    const rule = ['--package', 'gb-100', '--below-gb', '20'];
    expect(await cli('autotopup', 'set', '0066', ...rule, ...card)).toBe(0);
    expect(h.stdout.text).toContain('auto top-up on for customer 66:');
    expect(await cli('autotopup', 'show', '0066')).toBe(0);
    expect(h.stdout.text).toContain('auto top-up: on');
    expect(await cli('autotopup', 'off', '00066')).toBe(0);
    // Back on: the "turned off" alert of customer 66 closes, whatever the spelling
    ResolvingSink.resolved = [];
    expect(await cli('autotopup', 'set', '0066', ...rule)).toBe(0);
    expect(ResolvingSink.resolved).toEqual(['autotopup:66:off:0']);
    expect(await cli('autotopup', 'history', '066', '--json')).toBe(0);
    expect((JSON.parse(h.stdout.text) as { event: string }[]).map((l) => l.event)).toEqual([
      'on',
      'off',
      'on',
    ]);
    expect(await cli('autotopup', 'show', '0')).toBe(2);
    expect(h.stderr.text).toContain('<customer> must be a customer id');
  });
});
