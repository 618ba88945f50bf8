import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  type NativeAttributeValue,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreError, storeCall } from '../../store/errors.ts';
import { queryAll, type StoredItem } from '../../store/query.ts';
import { TABLE_DEFINITION } from '../../store/table.ts';
import { decimalText, type KeyPrefix } from '../../store/values.ts';
import { type Decimal, parseDecimal } from '../../units.ts';

export const balanceKeys = {
  /**
   * One customer's balance; `CUSTBAL` lists every customer in id order on gsi2 (keys only:
   * the frequent rewrites copy nothing). Balances last written before gsi2 are on gsi1.
   */
  customerBalance: (customerId: string) => ({
    pk: `CUSTOMER#${customerId}`,
    sk: 'BALANCE',
    gsi2pk: 'CUSTBAL',
    gsi2sk: customerId.padStart(20, '0'),
  }),
} as const;

export const KEY_PREFIXES = [
  { pk: 'CUSTOMER#', sk: 'BALANCE' },
  { index: 'gsi2', pk: 'CUSTBAL', sk: '' },
  // Balances last written before gsi2 existed, until their next write.
  { index: 'gsi1', pk: 'CUSTBAL', sk: '' },
] as const satisfies readonly KeyPrefix[];

/** The operator's calibration: the balance was `mb` at `at`. */
export interface Opening {
  mb: Decimal;
  /** The instant the figure was true (ISO 8601). */
  at: string;
  /** The upstream day containing `at`: earlier days are not counted at all… */
  day: string;
  /** …and of this day only what exceeds what had been used when the figure was read. */
  dayBaseMb: Decimal;
}

/**
 * One customer's balance as FlowPilot keeps it (customers/balance.ts does the arithmetic).
 * Usage is split so an update costs the same on day 400 as on day 1: days folded into
 * `settledMb` up to `settledThrough`, and the few days after that one by one in `recent`.
 */
export interface BalanceState {
  customerId: string;
  account?: string;
  userName?: string;
  opening?: Opening;
  /** Sums of the upstream's records after the opening (type 0; type 1 as a positive). */
  creditsMb: Decimal;
  deductionsMb: Decimal;
  lastCreditMb?: Decimal;
  lastCreditAt?: string;
  /** Key of the newest record taken into account (the balance's records cursor). */
  recordsThrough?: string;
  /**
   * Keys of the records taken into account (counted, or before the opening) from the day
   * `seenFrom` on: a record is counted exactly once by its identity, whatever it sorts
   * after. Records of earlier days are all taken into account. Absent on a balance written
   * before this set existed: its records are summed again once.
   */
  seen?: Set<string>;
  seenFrom?: string;
  settledMb: Decimal;
  settledThrough?: string;
  /** Day → MB counted, for the days after `settledThrough`. */
  recent: Map<string, Decimal>;
  /**
   * The credit records taken into account in the window before the newest one (oldest
   * first, customers/balance.ts): the auto top-up tells by them which of the ledger's credits
   * the balance shows. Absent on a balance written before they were kept.
   */
  recentCredits?: { at: string; mb: Decimal }[];
}

/** A stored balance, when it was last computed (ISO 8601), and its version (0: none yet). */
export interface StoredBalance {
  state: BalanceState;
  updatedAt: string;
  version: number;
}

/** A balance to write over the version it was computed from (undefined: none was stored). */
export interface BalanceWrite {
  state: BalanceState;
  version: number | undefined;
}

export interface BalanceWriteResult {
  written: number;
  /** Customers whose balance another writer changed since it was read: nothing written. */
  conflicts: string[];
}

/** Writes in flight at once. */
const WRITES_IN_FLIGHT = 16;

/** BatchGetItem's limit. */
const GET_BATCH = 100;
const GET_ATTEMPTS = 8;

const dec = (v: NativeAttributeValue, what: string) => parseDecimal(v, what);
const optional = (v: NativeAttributeValue) =>
  v === undefined || v === null ? undefined : String(v);

function fromItem(item: StoredItem): StoredBalance {
  try {
    const state: BalanceState = {
      customerId: String(item.customerId),
      creditsMb: dec(item.creditsMb, 'creditsMb'),
      deductionsMb: dec(item.deductionsMb, 'deductionsMb'),
      settledMb: dec(item.settledMb, 'settledMb'),
      recent: new Map(
        Object.entries((item.recent ?? {}) as Record<string, string>).map(([d, v]) => [
          d,
          dec(v, `recent.${d}`),
        ]),
      ),
    };
    const account = optional(item.account);
    if (account) state.account = account;
    const userName = optional(item.userName);
    if (userName) state.userName = userName;
    const o = item.opening as Record<string, string> | undefined;
    if (o) {
      state.opening = {
        mb: dec(o.mb, 'opening.mb'),
        at: String(o.at),
        day: String(o.day),
        dayBaseMb: dec(o.dayBaseMb, 'opening.dayBaseMb'),
      };
    }
    if (item.lastCreditMb !== undefined) state.lastCreditMb = dec(item.lastCreditMb, 'lastCredit');
    const lastCreditAt = optional(item.lastCreditAt);
    if (lastCreditAt) state.lastCreditAt = lastCreditAt;
    const recordsThrough = optional(item.recordsThrough);
    if (recordsThrough) state.recordsThrough = recordsThrough;
    const settledThrough = optional(item.settledThrough);
    if (settledThrough) state.settledThrough = settledThrough;
    if (Array.isArray(item.seen)) state.seen = new Set(item.seen.map(String));
    const seenFrom = optional(item.seenFrom);
    if (seenFrom) state.seenFrom = seenFrom;
    if (Array.isArray(item.recentCredits)) {
      state.recentCredits = (item.recentCredits as Record<string, string>[]).map((c, i) => ({
        at: String(c.at),
        mb: dec(c.mb, `recentCredits.${i}.mb`),
      }));
    }
    return {
      state,
      updatedAt: String(item.updatedAt ?? ''),
      version: Number(item.version ?? 0),
    };
  } catch (cause) {
    throw new StoreError(`unreadable customer balance ${item.pk}`, 'customerBalances.read', {
      cause,
    });
  }
}

function toItem(s: BalanceState, at: Date, version: number): StoredItem {
  const item: StoredItem = {
    ...balanceKeys.customerBalance(s.customerId),
    customerId: s.customerId,
    creditsMb: decimalText(s.creditsMb),
    deductionsMb: decimalText(s.deductionsMb),
    settledMb: decimalText(s.settledMb),
    recent: Object.fromEntries([...s.recent].map(([d, v]) => [d, decimalText(v)])),
    updatedAt: at.toISOString(),
    version,
  };
  if (s.account) item.account = s.account;
  if (s.userName) item.userName = s.userName;
  if (s.opening) {
    item.opening = {
      mb: decimalText(s.opening.mb),
      at: s.opening.at,
      day: s.opening.day,
      dayBaseMb: decimalText(s.opening.dayBaseMb),
    };
  }
  if (s.lastCreditMb) item.lastCreditMb = decimalText(s.lastCreditMb);
  if (s.lastCreditAt) item.lastCreditAt = s.lastCreditAt;
  if (s.recordsThrough) item.recordsThrough = s.recordsThrough;
  if (s.settledThrough) item.settledThrough = s.settledThrough;
  if (s.seen) item.seen = [...s.seen].sort();
  if (s.seenFrom) item.seenFrom = s.seenFrom;
  if (s.recentCredits) {
    item.recentCredits = s.recentCredits.map((c) => ({ at: c.at, mb: decimalText(c.mb) }));
  }
  return item;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Customer balances: `CUSTOMER#<id>` / `BALANCE`, one small item per customer (its size does
 * not grow with history), listed in id order through gsi2 `CUSTBAL` (keys only).
 */
export class CustomerBalanceStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#table = tableName;
  }

  async get(customerId: string): Promise<StoredBalance | undefined> {
    const { pk, sk } = balanceKeys.customerBalance(customerId);
    const out = await storeCall('customerBalances.get', () =>
      this.#doc.send(
        new GetCommand({ TableName: this.#table, Key: { pk, sk }, ConsistentRead: true }),
      ),
    );
    return out.Item ? fromItem(out.Item) : undefined;
  }

  /**
   * The stored balances of these customers (absent ones left out), 100 per BatchGetItem.
   * `consistent: false` reads at half the price, for a caller whose write is conditional on
   * the version read (a stale read costs it a retry, never a lost update).
   */
  async getMany(
    customerIds: readonly string[],
    { consistent = true }: { consistent?: boolean } = {},
  ): Promise<Map<string, StoredBalance>> {
    const found = new Map<string, StoredBalance>();
    const unique = [...new Set(customerIds)];
    const chunks: StoredItem[][] = [];
    for (let i = 0; i < unique.length; i += GET_BATCH) {
      chunks.push(
        unique.slice(i, i + GET_BATCH).map((id) => {
          const { pk, sk } = balanceKeys.customerBalance(id);
          return { pk, sk };
        }),
      );
    }
    await Promise.all(
      chunks.map(async (chunk) => {
        let pending = chunk;
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt >= GET_ATTEMPTS) {
            throw new StoreError(
              `DynamoDB customerBalances.getMany: ${pending.length} keys unprocessed`,
              'customerBalances.getMany',
              { retryable: true },
            );
          }
          if (attempt > 0) await sleep(Math.random() * Math.min(2000, 25 * 2 ** attempt));
          const out = await storeCall('customerBalances.getMany', () =>
            this.#doc.send(
              new BatchGetCommand({
                RequestItems: { [this.#table]: { Keys: pending, ConsistentRead: consistent } },
              }),
            ),
          );
          for (const item of out.Responses?.[this.#table] ?? []) {
            const b = fromItem(item);
            found.set(b.state.customerId, b);
          }
          pending = (out.UnprocessedKeys?.[this.#table]?.Keys ?? []) as StoredItem[];
        }
      }),
    );
    return found;
  }

  /**
   * Writes each balance only over the version it was computed from, so that two writers (a
   * poll and a calibration, or two polls) never overwrite each other's work: the ids whose
   * stored version moved are returned for the caller to read again and recompute.
   */
  async write(balances: readonly BalanceWrite[], at: Date): Promise<BalanceWriteResult> {
    const out: BalanceWriteResult = { written: 0, conflicts: [] };
    let next = 0;
    const one = async () => {
      for (let w = balances[next++]; w; w = balances[next++]) {
        const expected = w.version;
        const condition =
          expected === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : expected === 0
              ? { ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#v)' }
              : {
                  ConditionExpression: '#v = :v',
                  ExpressionAttributeValues: { ':v': expected },
                };
        try {
          await this.#doc.send(
            new PutCommand({
              TableName: this.#table,
              Item: toItem(w.state, at, (expected ?? 0) + 1),
              ...condition,
              ...(expected !== undefined && { ExpressionAttributeNames: { '#v': 'version' } }),
            }),
          );
          out.written++;
        } catch (cause) {
          if ((cause as Error).name !== 'ConditionalCheckFailedException') {
            throw new StoreError(
              `DynamoDB customerBalances.write failed (${(cause as Error).name})`,
              'customerBalances.write',
              { cause },
            );
          }
          out.conflicts.push(w.state.customerId);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITES_IN_FLIGHT, balances.length) }, one));
    return out;
  }

  /**
   * Every customer's balance, in id order (for the operator's views): the ids from gsi2 (keys
   * only), and from gsi1 those of balances not rewritten since gsi2 came (a write moves them),
   * then the items by key.
   */
  async list(): Promise<StoredBalance[]> {
    const { gsi1, gsi2 } = TABLE_DEFINITION;
    const [current = [], earlier = []] = await Promise.all(
      [gsi2, gsi1].map((index) =>
        queryAll(
          this.#doc,
          {
            TableName: this.#table,
            IndexName: index.indexName,
            KeyConditionExpression: '#pk = :pk',
            ExpressionAttributeNames: { '#pk': index.partitionKey },
            ExpressionAttributeValues: { ':pk': balanceKeys.customerBalance('').gsi2pk },
            ProjectionExpression: 'pk',
          },
          'customerBalances.list',
        ),
      ),
    );
    const ids = [...current, ...earlier].map((i) => String(i.pk).slice(BALANCE_PK_PREFIX.length));
    const found = await this.getMany(ids, { consistent: false });
    const order = (b: StoredBalance) => balanceKeys.customerBalance(b.state.customerId).gsi2sk;
    return [...found.values()].sort((a, b) => (order(a) < order(b) ? -1 : 1));
  }
}

const BALANCE_PK_PREFIX = balanceKeys.customerBalance('').pk;
