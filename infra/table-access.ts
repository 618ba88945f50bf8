import type { FunctionName } from './bundling.ts';
import type { TableAction } from './constructs/function.ts';

/**
 * What each function's code does to the table, and so all its role may do: read by key and
 * query, write by put, update and (the pollers) batch put. Transactions need the actions of
 * their items (Put, Update). Nothing deletes items (expiry is DynamoDB TTL), so no role holds
 * DeleteItem, the internet-facing webhook least of all. test/integration/infra-security.test.ts
 * derives these lists from each function's bundle, so a new call fails the test until its
 * grant is added here, and a grant the code stops using fails it too.
 */
export const TABLE_ACCESS: Readonly<Record<FunctionName, readonly TableAction[]>> = {
  'poll-totals': [
    'dynamodb:GetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:BatchWriteItem',
  ],
  'poll-usage': [
    'dynamodb:GetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:BatchWriteItem',
  ],
  'poll-customers': [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:BatchWriteItem',
  ],
  reconcile: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  'payment-webhook': [
    'dynamodb:GetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
  ],
};
