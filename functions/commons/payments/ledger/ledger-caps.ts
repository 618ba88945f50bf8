import { NumberValue } from '@aws-sdk/lib-dynamodb';
import { ledgerKeys, type TxItems } from './ledger-items.ts';

/**
 * The monthly cap aggregate: one counter of credited GB per customer and month. It is only
 * ever written inside an order's transaction, so the counter and the orders cannot disagree.
 */

export interface MonthCap {
  customerId: string;
  month: string;
  /** GB this order adds, decimal text. */
  gb: string;
  /** The counter may hold at most this much before the add (cap − gb), decimal text. */
  room: string;
}

export interface MonthAmount {
  customerId: string;
  month: string;
  /** GB, decimal text. */
  gb: string;
}

/** Adds an order's GB to its month, refused when the counter has no room left. */
export function addWithinCap(tableName: string, cap: MonthCap, at: string): TxItems[number] {
  return {
    Update: {
      TableName: tableName,
      Key: ledgerKeys.month(cap.customerId, cap.month),
      UpdateExpression: 'ADD #gb :gb SET updatedAt = :at',
      ConditionExpression: 'attribute_not_exists(#gb) OR #gb <= :room',
      ExpressionAttributeNames: { '#gb': 'gb' },
      ExpressionAttributeValues: {
        ':gb': NumberValue.from(cap.gb),
        ':room': NumberValue.from(cap.room),
        ':at': at,
      },
    },
  };
}

/** Adds GB whatever the counter holds (an operator overrode the cap). */
export function addToMonth(tableName: string, add: MonthAmount, at: string): TxItems[number] {
  return {
    Update: {
      TableName: tableName,
      Key: ledgerKeys.month(add.customerId, add.month),
      UpdateExpression: 'ADD #gb :gb SET updatedAt = :at',
      ExpressionAttributeNames: { '#gb': 'gb' },
      ExpressionAttributeValues: { ':gb': NumberValue.from(add.gb), ':at': at },
    },
  };
}

/** Gives an order's GB back to its month (the upstream refused the order for good). */
export function giveBackToMonth(tableName: string, back: MonthAmount, at: string) {
  return addToMonth(tableName, { ...back, gb: `-${back.gb}` }, at);
}
