import type { FunctionName } from './bundling.ts';
import type { TableAction } from './constructs/function.ts';

/**
 * What each function's code does to the table, and so all its role may do: read by key and
 * query, write by put, update and (the pollers) batch put; transactions need the actions of
 * their items (Put, Update, ConditionCheck). Nothing deletes items (expiry is DynamoDB TTL;
 * consumed markers are marked, not deleted), so no role holds DeleteItem, the internet-facing
 * webhook least of all. test/integration/infra-security.test.ts
 * derives these lists from each function's bundle, so a new call fails the test until its
 * grant is added here, and a grant the code stops using fails it too.
 */
const READ: readonly TableAction[] = ['dynamodb:GetItem', 'dynamodb:Query'];
const WRITE: readonly TableAction[] = ['dynamodb:PutItem', 'dynamodb:UpdateItem'];
/** The ledger's transactions check that an order or pointer is absent. */
const LEDGER_TX: readonly TableAction[] = ['dynamodb:ConditionCheckItem'];

export const TABLE_ACCESS: Readonly<Record<FunctionName, readonly TableAction[]>> = {
  'poll-totals': [...READ, ...WRITE, ...LEDGER_TX, 'dynamodb:BatchWriteItem'],
  // Batch reads of the open days' part items (pollers/store/usage.ts).
  'poll-usage': [...READ, ...WRITE, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem'],
  'poll-customers': [
    ...READ,
    ...WRITE,
    ...LEDGER_TX,
    'dynamodb:BatchGetItem',
    'dynamodb:BatchWriteItem',
  ],
  // Its bundle carries the ledger's order transactions (auto top-up reads orders through it).
  'customer-actions': [
    ...READ,
    ...WRITE,
    ...LEDGER_TX,
    'dynamodb:BatchGetItem',
    'dynamodb:BatchWriteItem',
  ],
  reconcile: [...READ, ...WRITE, ...LEDGER_TX],
  'payment-webhook': [...READ, ...WRITE, ...LEDGER_TX, 'dynamodb:BatchGetItem'],
  // Reads one customer's items; writes its page settings, rate counters, notice opt-out and
  // auto top-up settings (a transaction of puts with their history). The batch actions come
  // with the stores it reads through (their getMany and put), which the bundle carries.
  portal: [...READ, ...WRITE, 'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem'],
};
