import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/commons/config/load.ts';
import { CustomerContactStore } from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import { NoticeOutboxStore } from '../../functions/commons/customer-notices/store/notice-outbox.ts';
import { noticeChannels } from '../../functions/commons/customer-notices/wiring.ts';
import { customerBalance } from '../helpers/balances.ts';
import { type CliHarness, cliHarness } from '../helpers/cli.ts';
import { createTestTable, type TestTable } from '../helpers/dynamo.ts';
import { customerNotices } from '../helpers/notices.ts';
import { RecordingSink } from './payments-fixtures.ts';

// 23:00 in Shanghai: email goes at once, SMS waits for 08:00.
const NOW = new Date('2026-12-01T15:00:00.000Z');
const config = parseConfig({
  customers: {
    paymentLinkUrl: 'https://pay.example.com/{customerId}',
    notices: { smsCountries: ['+86'] },
  },
});

const balance = (gb: number) => customerBalance('88', gb, NOW);

describe('flowpilot customer contact / outbox (DynamoDB Local)', () => {
  let table: TestTable;
  let h: CliHarness;

  beforeAll(async () => {
    table = await createTestTable('cli-notices');
    h = cliHarness(table, { config, clock: () => NOW, sink: new RecordingSink() });
  });

  it('sets and shows a contact, and refuses what it cannot store', async () => {
    expect(await h.cli('customer', 'contact', '88')).toBe(3);
    expect(h.stderr.text).toContain('no contact stored for customer 88');

    expect(
      await h.cli(
        'customer',
        'contact',
        '088',
        '--email',
        'ada@example.net',
        '--phone',
        '+86 138 0013 8000',
        '--locale',
        'zh',
        '--low-gb',
        '2',
      ),
    ).toBe(0);
    expect(h.stdout.text).toMatch(/email:\s+ada@example\.net \(set by operator\)/);
    expect(h.stdout.text).toMatch(/locale:\s+zh-CN/);
    expect(h.stdout.text).toMatch(/low below:\s+2 GB/);
    expect(h.stdout.text).toMatch(/time zone:\s+Asia\/Shanghai \(default\)/);

    expect(await h.cli('customer', 'contact', '88', '--no-notices', '--json')).toBe(0);
    expect(JSON.parse(h.stdout.text).contact).toMatchObject({
      customerId: '88',
      phone: '+8613800138000',
      notices: false,
      lowThresholds: { gb: 2 },
    });

    expect(await h.cli('customer', 'contact', '88', '--locale', 'fr')).toBe(2);
    expect(h.stderr.text).toContain('--locale: locale must be one of en, zh-CN, got "fr"');
    expect(await h.cli('customer', 'contact', '88', '--notices', '--no-notices')).toBe(2);
    expect(await h.cli('customer', 'contact', '88', '--email', 'nope')).toBe(2);
    expect(await h.cli('customer', 'contact', 'abc')).toBe(2);
    expect(await h.cli('customer', 'contact', '88', '--notices', '--low-gb', 'default')).toBe(0);
    expect(h.stdout.text).toMatch(/notices:\s+on/);
    expect(h.stdout.text).toMatch(/low below:\s+5 GB \(default\)/);
  });

  it('lists the outbox with recipients masked, deferred SMS first', async () => {
    const printed: string[] = [];
    const { contacts, listener: notices } = customerNotices(table, config.customers, {
      clock: () => NOW,
      ...noticeChannels(config.customers, 'print', { write: (t) => printed.push(t) }),
    });
    await contacts.edit('88', { notices: true }, NOW);
    const first = balance(20);
    await notices.onBalances([{ before: undefined, after: first, credits: [] }]);
    await notices.onBalances([{ before: first, after: balance(1), credits: [] }]);

    // Printed locally, in Chinese, recipient masked.
    expect(printed).toHaveLength(1);
    expect(printed[0]).toContain(
      'CUSTOMER NOTICE running-low | customer=88 channel=email locale=zh-CN to=a***@example.net',
    );
    expect(printed[0]).toContain('充值链接： https://pay.example.com/88');
    expect(printed.join('')).not.toContain('ada@example.net');

    expect(await h.cli('outbox')).toBe(0);
    const lines = h.stdout.text.trim().split('\n');
    expect(lines[0]).toMatch(
      /^CREATED\s+CUSTOMER\s+NOTICE\s+CHANNEL\s+LOCALE\s+STATUS\s+TO\s+NOTE$/,
    );
    expect(lines[1]).toMatch(
      /running-low#1\s+sms\s+zh-CN\s+deferred\s+\+86\*\*\*00\s+due 2026-12-02 00:00 UTC \(quiet hours\)$/,
    );
    expect(lines[2]).toMatch(/running-low#1\s+email\s+zh-CN\s+printed\s+a\*\*\*@example\.net/);
    expect(h.stdout.text).not.toContain('ada@example.net');

    expect(await h.cli('outbox', '--customer', '88', '--json', '--full')).toBe(0);
    const { entries } = JSON.parse(h.stdout.text) as { entries: { to: string; status: string }[] };
    expect(entries.map((e) => `${e.status} ${e.to}`).sort()).toEqual([
      'deferred +86***00',
      'printed a***@example.net',
    ]);
  });

  it('shows where each address came from: the operator, the customer, or an unconfirmed payment', async () => {
    const contacts = new CustomerContactStore(table.doc, table.tableName);
    await contacts.capture(
      '66',
      { email: 'payer@example.org', phone: '+8613900000000' },
      NOW,
      'ORDER#stripe#cs_66',
    );
    expect(await h.cli('customer', 'contact', '66')).toBe(0);
    expect(h.stdout.text).toMatch(
      /email:\s+payer@example\.org \(from a payment, unconfirmed: receipts only\)/,
    );
    expect(h.stdout.text).toMatch(/name:\s+-\n/);
    await contacts.confirmEmail('66', 'payer@example.org', NOW);
    await contacts.edit('66', { phone: '+8613800138000' }, NOW);
    expect(await h.cli('customer', 'contact', '66')).toBe(0);
    expect(h.stdout.text).toMatch(
      /email:\s+payer@example\.org \(confirmed by the customer\); payer@example\.org \(from a payment, not used\)/,
    );
    expect(h.stdout.text).toMatch(
      /phone:\s+\+8613800138000 \(set by operator\); \+8613900000000 \(from a payment, not used\)/,
    );
  });

  it('forgets a customer: contact removed, outbox masked and erased, open notices dropped, and says what it kept', async () => {
    // Prepare: customer 88 has a contact, a printed email and an SMS waiting for 08:00.
    const contacts = new CustomerContactStore(table.doc, table.tableName);
    const outbox = new NoticeOutboxStore(table.doc, table.tableName);
    await contacts.edit(
      '88',
      { email: 'ada@example.net', phone: '+8613800138000', name: 'Ada' },
      NOW,
    );
    const before = await outbox.forCustomer('88');
    expect(before.map((e) => e.status).sort()).toEqual(['deferred', 'printed']);

    // Act
    expect(await h.cli('customer', 'forget', '088')).toBe(0);

    // Assess: what it says, and what is left.
    expect(h.stdout.text).toContain(
      'customer 88: contact removed; 2 notice outbox entries kept with the recipient masked and the text erased',
    );
    expect(h.stdout.text).toContain('balance, ledger lines, orders and daily usage');
    const contact = await contacts.get('88');
    expect(contact).toMatchObject({ customerId: '88', notices: true, lowThresholds: {} });
    expect(contact?.email ?? contact?.phone ?? contact?.name ?? contact?.locale).toBeUndefined();
    const after = await outbox.forCustomer('88');
    expect(after.map((e) => `${e.channel} ${e.status} ${e.to} ${e.text}`).sort()).toEqual([
      'email printed a***@example.net (erased)',
      'sms dropped +86***00 (erased)',
    ]);
    expect(after.every((e) => e.subject === undefined)).toBe(true);
    expect(JSON.stringify(after)).not.toContain('ada@example.net');
    expect(await outbox.due(new Date('2026-12-03T00:00:00Z'))).toEqual([]);

    expect(await h.cli('customer', 'forget', '88', '--json')).toBe(0);
    expect(JSON.parse(h.stdout.text)).toMatchObject({
      customerId: '88',
      contactRemoved: false,
      outboxEntriesMasked: 2,
    });
    expect(await h.cli('customer', 'forget')).toBe(2);
  });
});
