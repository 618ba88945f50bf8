import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';

/**
 * The embedded engine for `npm start` when no DynamoDB endpoint is given: dynalite, pure
 * Node, keeping its data in LevelDB files on disk. Tests use DynamoDB Local instead.
 *
 * dynalite has no transactions, which the ledger uses. A thin front emulates
 * TransactWriteItems (and TransactGetItems) with the single-item operations it does have:
 * one transaction at a time, each step conditional and returning the old image, and a
 * failed step rolls the earlier ones back before answering TransactionCanceledException
 * exactly as DynamoDB does. Good enough for one machine; AWS and DynamoDB Local run real
 * transactions.
 *
 * dynalite also ignores `ReturnValuesOnConditionCheckFailure` on single writes: the front
 * reads the item after a refused write that asks for `ALL_OLD` and attaches it to the
 * ConditionalCheckFailedException as DynamoDB does (the item as it is just after the refusal,
 * which on one machine is the item that refused).
 */
export async function startEmbeddedDynamoDb(
  dir: string,
): Promise<{ endpoint: string; close(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  const engine = dynalite({ path: dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await listen(engine);
  const inner = `http://127.0.0.1:${(engine.address() as AddressInfo).port}`;
  const transactions = new TransactionEmulator(inner);
  const front = createServer((req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target.endsWith('.TransactWriteItems') || target.endsWith('.TransactGetItems')) {
      void transactions.handle(req, res, target.endsWith('.TransactWriteItems'));
    } else if (/\.(PutItem|UpdateItem|DeleteItem)$/.test(target)) {
      void transactions.single(req, res, target.slice(target.lastIndexOf('.') + 1));
    } else {
      forward(inner, req, res);
    }
  });
  await listen(front);
  return {
    endpoint: `http://127.0.0.1:${(front.address() as AddressInfo).port}`,
    // Closing dynalite closes its LevelDB, which flushes what was written.
    close: async () => {
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await new Promise<void>((resolve) => engine.close(() => resolve()));
    },
  };
}

function listen(server: ReturnType<typeof createServer>): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

function forward(inner: string, req: IncomingMessage, res: ServerResponse): void {
  const upstream = request(
    `${inner}${req.url ?? '/'}`,
    { method: req.method, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 500, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => {
    res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError' }));
  });
  req.pipe(upstream);
}

type Json = Record<string, unknown>;
type Answer = { status: number; body: Json };

class TransactionEmulator {
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly inner: string) {}

  async handle(req: IncomingMessage, res: ServerResponse, write: boolean): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let input: Json;
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
    } catch {
      return reply(res, { status: 400, body: error('SerializationException', 'not JSON') });
    }
    // One transaction at a time, in arrival order.
    const run = this.queue.then(() => (write ? this.write(input) : this.get(input)));
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    reply(
      res,
      await run.catch(() => ({
        status: 500,
        body: error('InternalServerError', 'emulation failed'),
      })),
    );
  }

  /** A single conditional write, with the current item on a refusal that asks for it. */
  async single(req: IncomingMessage, res: ServerResponse, op: string): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let input: Json;
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
    } catch {
      return reply(res, { status: 400, body: error('SerializationException', 'not JSON') });
    }
    const run = async (): Promise<Answer> => {
      const out = await this.call(op, input);
      const refused = String(out.body.__type).endsWith('ConditionalCheckFailedException');
      if (!refused || input.ReturnValuesOnConditionCheckFailure !== 'ALL_OLD') return out;
      const table = String(input.TableName);
      const key =
        op === 'PutItem' ? keyOf(input.Item as Json, await this.keyNames(table)) : input.Key;
      const current = await this.call('GetItem', { TableName: table, Key: key });
      return current.body.Item ? { ...out, body: { ...out.body, Item: current.body.Item } } : out;
    };
    reply(
      res,
      await run().catch(() => ({
        status: 500,
        body: error('InternalServerError', 'emulation failed'),
      })),
    );
  }

  private call(op: string, body: Json): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const r = request(
        this.inner,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': `DynamoDB_20120810.${op}`,
            authorization:
              'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
            'x-amz-date': '20260101T000000Z',
            'content-length': Buffer.byteLength(payload),
          },
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (d: Buffer) => parts.push(d));
          answer.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            resolve({
              status: answer.statusCode ?? 500,
              body: text ? (JSON.parse(text) as Json) : {},
            });
          });
        },
      );
      r.on('error', reject);
      r.end(payload);
    });
  }

  private async get(input: Json): Promise<Answer> {
    const items = (input.TransactItems as Json[] | undefined) ?? [];
    const responses: Json[] = [];
    for (const entry of items) {
      const g = entry.Get as Json;
      const out = await this.call('GetItem', g);
      if (out.status !== 200) return out;
      responses.push(out.body.Item ? { Item: out.body.Item } : {});
    }
    return { status: 200, body: { Responses: responses } };
  }

  private async write(input: Json): Promise<Answer> {
    const items = (input.TransactItems as Json[] | undefined) ?? [];
    const undo: { table: string; key: Json; old: Json | undefined; check: boolean }[] = [];
    const restore = async (steps: typeof undo) => {
      for (const u of steps.reverse()) {
        if (u.old) await this.call('PutItem', { TableName: u.table, Item: u.old });
        else await this.call('DeleteItem', { TableName: u.table, Key: u.key });
      }
    };
    const rollback = () => restore(undo);
    for (let i = 0; i < items.length; i++) {
      const entry = items[i] ?? {};
      const [kind, spec] = Object.entries(entry)[0] ?? ['', {}];
      const op = spec as Json;
      const table = String(op.TableName);
      const key =
        kind === 'Put' ? keyOf(op.Item as Json, await this.keyNames(table)) : (op.Key as Json);
      const common = {
        TableName: table,
        ConditionExpression: op.ConditionExpression,
        ExpressionAttributeNames: op.ExpressionAttributeNames,
        ExpressionAttributeValues: op.ExpressionAttributeValues,
        ReturnValues: 'ALL_OLD',
      };
      let out: Answer;
      if (kind === 'Put') out = await this.call('PutItem', { ...common, Item: op.Item });
      else if (kind === 'Update') {
        out = await this.call('UpdateItem', {
          ...common,
          Key: key,
          UpdateExpression: op.UpdateExpression,
        });
      } else if (kind === 'Delete') out = await this.call('DeleteItem', { ...common, Key: key });
      else if (kind === 'ConditionCheck') {
        // Check by a conditional no-op write, undone below like any other step.
        out = await this.call('UpdateItem', {
          ...common,
          Key: key,
          UpdateExpression: 'SET #txcheck = :txcheck',
          ExpressionAttributeNames: {
            ...(op.ExpressionAttributeNames as Json),
            '#txcheck': '__txcheck',
          },
          ExpressionAttributeValues: {
            ...(op.ExpressionAttributeValues as Json),
            ':txcheck': { BOOL: true },
          },
        });
      } else {
        await rollback();
        return {
          status: 400,
          body: error('ValidationException', `unsupported transaction item ${kind}`),
        };
      }
      if (out.status === 200) {
        undo.push({
          table,
          key,
          old: out.body.Attributes as Json | undefined,
          check: kind === 'ConditionCheck',
        });
        continue;
      }
      await rollback();
      if (!String(out.body.__type).endsWith('ConditionalCheckFailedException')) return out;
      const reasons: Json[] = items.map(() => ({ Code: 'None' }));
      const reason: Json = {
        Code: 'ConditionalCheckFailed',
        Message: 'The conditional request failed',
      };
      if (op.ReturnValuesOnConditionCheckFailure === 'ALL_OLD') {
        const current = await this.call('GetItem', { TableName: table, Key: key });
        if (current.body.Item) reason.Item = current.body.Item;
      }
      reasons[i] = reason;
      return {
        status: 400,
        body: {
          ...error(
            'TransactionCanceledException',
            `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
          ),
          CancellationReasons: reasons,
        },
      };
    }
    // A condition check wrote a marker; take it back now that the transaction holds.
    await restore(undo.filter((u) => u.check));
    return { status: 200, body: {} };
  }

  private readonly keyCache = new Map<string, string[]>();

  private async keyNames(table: string): Promise<string[]> {
    let names = this.keyCache.get(table);
    if (!names) {
      const out = await this.call('DescribeTable', { TableName: table });
      const schema =
        ((out.body.Table as Json | undefined)?.KeySchema as { AttributeName: string }[]) ?? [];
      names = schema.map((k) => k.AttributeName);
      this.keyCache.set(table, names);
    }
    return names;
  }
}

function keyOf(item: Json, names: string[]): Json {
  return Object.fromEntries(names.map((n) => [n, item[n]]));
}

function error(type: string, message: string): Json {
  return { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message };
}

function reply(res: ServerResponse, answer: Answer): void {
  const body = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': 'local',
  });
  res.end(body);
}
