import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { emptyBalance } from '../../functions/commons/customers/balance.ts';
import { CustomerBalanceStore } from '../../functions/commons/store/customer-balances.ts';
import { PoolRefillStore } from '../../functions/commons/store/pool-refills.ts';
import { Decimal } from '../../functions/commons/units.ts';
import { renderStatusPage, statusDepsFor } from '../../local/status/page.ts';
import { createTestTable } from '../helpers/dynamo.ts';

// 04:00 UTC is noon in Shanghai: yesterday there is 2026-11-19.
const NOW = new Date('2026-11-20T04:00:00.000Z');

/** A customer with `balanceMb` left who used `dailyMb` on each of the last 7 days. */
function customer(id: string, balanceMb: number, dailyMb: number, account?: string) {
  const state = emptyBalance(id);
  if (account) state.account = account;
  state.creditsMb = new Decimal(balanceMb + 7 * dailyMb);
  for (let d = 13; d <= 19; d++) state.recent.set(`2026-11-${d}`, new Decimal(dailyMb));
  return state;
}

/** The same customer with an opening of 0 GB before its records: its balance is a balance. */
function calibrated(state: ReturnType<typeof customer>) {
  return {
    ...state,
    opening: {
      mb: new Decimal(0),
      at: '2026-11-01T00:00:00.000Z',
      day: '2026-11-01',
      dayBaseMb: new Decimal(0),
    },
  };
}

describe('Status page: customers running low', () => {
  it('lists the customers at or under the low list, lowest days left first, and no one else', async () => {
    // Prepare
    const table = await createTestTable('status-customers');
    const config = parseConfig({ customers: { lowList: { gb: 1, daysLeft: 3 } } });
    await new CustomerBalanceStore(table.doc, table.tableName).write(
      [
        customer('88', 3072, 1024, 'alice@example.com'), // 3 days left
        customer('89', 512, 10, '<b>eve</b>'), // under 1 GB, 51.2 days left
        customer('90', 102400, 100), // fine
        calibrated(customer('91', -20, 5)), // used up
        customer('92', -20, 5), // negative for want of an opening: not calibrated
      ].map((state) => ({ state, version: undefined })),
      NOW,
    );

    // Act
    const html = await renderStatusPage(
      statusDepsFor(table.doc, table.tableName, config, () => NOW),
    );

    // Assess
    expect(html).toContain('<h2>Customers running low (3)</h2>');
    const rows = [...html.matchAll(/<tr data-customer="(\d+)">(.*?)<\/tr>/g)];
    expect(rows.map((r) => r[1])).toEqual(['91', '88', '89']);
    expect(rows[1]?.[2]).toContain(
      '<td>alice@example.com</td><td class="num">3 GB</td><td class="num">3.0</td>',
    );
    expect(rows[0]?.[2]).toContain('<td class="num">-0.02 GB</td><td class="num">0.0</td>');
    expect(rows[2]?.[2]).toContain('<td>&#60;b&#62;eve&#60;/b&#62;</td>');
    expect(html).not.toContain('data-customer="90"');
    expect(html).not.toContain('data-customer="92"');
    expect(html).toContain(
      '<p class="meta" data-not-calibrated="1">Not calibrated (1): 92. Their usage exceeds every credit known, so their balance needs an opening: <code>flowpilot customer calibrate &lt;id&gt; --gb &lt;GB&gt;</code></p>',
    );
  });

  it('shows the latest pool refills from the pool ledger', async () => {
    const table = await createTestTable('status-customers');
    await new PoolRefillStore(table.doc, table.tableName).put({
      pool: 'primary',
      addedMb: new Decimal(512_000),
      at: '2026-11-20T02:40:00.000Z',
      seenAt: '2026-11-20T02:45:00.000Z',
    });
    const html = await renderStatusPage(
      statusDepsFor(table.doc, table.tableName, parseConfig({}), () => NOW),
    );
    expect(html).toContain('<li>primary pool refilled +500 GB at 2026-11-20 02:40 UTC</li>');
  });

  it('says so when nobody runs low', async () => {
    const table = await createTestTable('status-customers');
    const html = await renderStatusPage(
      statusDepsFor(table.doc, table.tableName, parseConfig({}), () => NOW),
    );
    expect(html).toContain('No customer running low (of 0 with a balance).');
  });
});
