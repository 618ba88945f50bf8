/**
 * Customer notices at 10,000 customers: DynamoDB requests and time for the first run (every
 * customer seen for the first time: a quiet state write each), a steady run (balances moved,
 * no episode changed: reads only), and a run where 1 % of the customers go low (a notice
 * each, printed), against DynamoDB Local. Run: npx tsx bench/customer-notices.ts [customers]
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynamoDbLocal } from '../scripts/dynamodb-local.ts';

process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const CUSTOMERS = Number(process.argv[2] ?? 10_000);

const { documentClient } = await import('../functions/commons/clients/dynamodb.ts');
const { ensureTable } = await import('../functions/commons/store/table.ts');
const { parseConfig } = await import('../functions/commons/config/load.ts');
const { CustomerNotices } = await import('../functions/commons/customer-notices/listener.ts');
const { noticeChannels } = await import('../functions/commons/customer-notices/wiring.ts');
const { CustomerContactStore } = await import(
  '../functions/commons/customer-notices/store/customer-contacts.ts'
);
const { NoticeStateStore } = await import(
  '../functions/commons/customer-notices/store/customer-notice-state.ts'
);
const { NoticeOutboxStore } = await import(
  '../functions/commons/customer-notices/store/notice-outbox.ts'
);
const { gbToMb } = await import('../functions/commons/units.ts');
type Change = import('../functions/commons/customers/types.ts').BalanceChange;

const ddb = await startDynamoDbLocal();
try {
  const client = new DynamoDBClient({
    endpoint: ddb.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const byCommand = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName);
      byCommand.set(name, (byCommand.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );
  const doc = documentClient(client);
  const tableName = `bench-${randomUUID().slice(0, 8)}`;
  await ensureTable(client, tableName);
  const customers = parseConfig({}).customers;
  const contacts = new CustomerContactStore(doc, tableName);
  let printed = 0;
  const listener = new CustomerNotices({
    config: customers.notices,
    contacts,
    state: new NoticeStateStore(doc, tableName),
    outbox: new NoticeOutboxStore(doc, tableName),
    clock: () => new Date('2026-12-01T04:00:00Z'),
    ...noticeChannels(customers, 'print', { write: () => printed++ }),
  });
  // Every 100th customer has an email, so the low run has someone to tell.
  for (let i = 0; i < CUSTOMERS; i += 100) {
    await contacts.edit(String(i + 1), { email: `c${i + 1}@example.com` }, new Date());
  }
  let previous: Change[] = [];
  const balances = (gb: (i: number) => number): Change[] =>
    Array.from({ length: CUSTOMERS }, (_, i) => ({
      before: previous[i]?.after,
      after: {
        customerId: String(i + 1),
        balanceMb: gbToMb(gb(i)).toFixed(),
        burn1dMb: '1024',
        burn7dMb: '1024',
        daysLeft: gb(i),
        lastCreditMb: null,
        lastCreditAt: null,
        asOf: '2026-12-01T04:00:00Z',
      },
      credits: [],
    }));

  const run = async (label: string, changes: Change[]) => {
    byCommand.clear();
    const t0 = performance.now();
    const summary = await listener.run(changes);
    previous = changes;
    const ms = performance.now() - t0;
    const total = [...byCommand.values()].reduce((a, b) => a + b, 0);
    const detail = [...byCommand.entries()].map(([k, v]) => `${k.replace('Command', '')} ${v}`);
    process.stdout.write(
      `${label.padEnd(34)} ${String(total).padStart(6)} DynamoDB requests (${detail.join(', ')}), ` +
        `${(ms / 1000).toFixed(2)} s, saved ${summary.saved}, entries ${JSON.stringify(summary.entries)}\n`,
    );
  };

  process.stdout.write(`customer notices, ${CUSTOMERS} customers, DynamoDB Local\n`);
  await run(
    'first run (all seen first time)',
    balances(() => 100),
  );
  await run(
    'steady run (no episode changes)',
    balances((i) => 90 + (i % 7)),
  );
  await run(
    '1 % of customers go low',
    balances((i) => (i % 100 === 0 ? 2 : 80)),
  );
  process.stdout.write(`printed notices: ${printed}\n`);
} finally {
  await ddb.stop();
}
