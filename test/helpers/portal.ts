import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import type { ConfigInput } from '../../functions/commons/config/schema.ts';
import { CustomerContactStore } from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import {
  type BalanceState,
  CustomerBalanceStore,
} from '../../functions/commons/customers/store/customer-balances.ts';
import {
  type CustomerRecord,
  CustomerRecordStore,
} from '../../functions/commons/customers/store/customer-records.ts';
import { UsageStore } from '../../functions/commons/pollers/store/usage.ts';
import type { CheckoutPort, PortalDeps } from '../../functions/commons/portal/app.ts';
import { PortalStore } from '../../functions/commons/portal/store.ts';
import { type PortalKeys, portalKeys } from '../../functions/commons/portal/tokens.ts';
import { addDays, Decimal, dayInZone } from '../../functions/commons/units.ts';

export const KEY = 'portal-test-key-0123456789abcdef-current';
export const OLD_KEY = 'portal-test-key-0123456789abcdef-previous';
export const HOST = 'portal.example.test';
export const ORIGIN = `https://${HOST}`;

/** A document client that counts the requests it sends. */
export function counting(doc: DynamoDBDocumentClient): {
  doc: DynamoDBDocumentClient;
  count: () => number;
  reset: () => void;
} {
  let n = 0;
  const wrapped = {
    send: (command: unknown) => {
      n++;
      return (doc.send as (c: unknown) => Promise<unknown>)(command);
    },
  } as unknown as DynamoDBDocumentClient;
  return {
    doc: wrapped,
    count: () => n,
    reset: () => {
      n = 0;
    },
  };
}

export function portalDeps(
  doc: DynamoDBDocumentClient,
  tableName: string,
  opts: {
    now: () => Date;
    keys?: PortalKeys;
    config?: ConfigInput;
    secure?: boolean;
    checkout?: CheckoutPort;
  },
): PortalDeps {
  const config = parseConfig(opts.config ?? {});
  return {
    config,
    keys: async () => opts.keys ?? portalKeys(KEY),
    portal: new PortalStore(doc, tableName),
    view: {
      balances: new CustomerBalanceStore(doc, tableName),
      contacts: new CustomerContactStore(doc, tableName),
      autoTopup: new AutoTopupStore(doc, tableName),
      usage: new UsageStore(doc, tableName),
      records: new CustomerRecordStore(doc, tableName),
    },
    contacts: new CustomerContactStore(doc, tableName),
    autoTopup: new AutoTopupStore(doc, tableName),
    clock: opts.now,
    secure: opts.secure ?? true,
    ...(opts.checkout ? { checkout: opts.checkout } : {}),
  };
}

/** An HTTP API v2 event as API Gateway builds it for the page's routes. */
export function portalEvent(
  method: string,
  pathAndQuery: string,
  opts: {
    cookies?: Record<string, string>;
    headers?: Record<string, string>;
    form?: Record<string, string>;
    sourceIp?: string;
  } = {},
): APIGatewayProxyEventV2 {
  const url = new URL(pathAndQuery, ORIGIN);
  const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
  const event = {
    version: '2.0',
    routeKey: `${method} /portal/{proxy+}`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers: {
      host: HOST,
      ...(method === 'POST' ? { origin: ORIGIN } : {}),
      ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...opts.headers,
    },
    requestContext: {
      http: { method, path: url.pathname, sourceIp: opts.sourceIp ?? '198.51.100.7' },
    },
    isBase64Encoded: body !== undefined,
    ...(body ? { body: Buffer.from(body).toString('base64') } : {}),
    ...(opts.cookies ? { cookies: Object.entries(opts.cookies).map(([k, v]) => `${k}=${v}`) } : {}),
  };
  return event as unknown as APIGatewayProxyEventV2;
}

export type Result = APIGatewayProxyStructuredResultV2 & {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
};

/** The session cookie's value out of a Set-Cookie list. */
export function sessionOf(result: Result): string | undefined {
  const c = (result.cookies ?? []).find((x) => /^(__Host-)?fp_portal=/.test(x));
  return c?.slice(c.indexOf('=') + 1).split(';')[0];
}

/** The CSRF token in the page's forms. */
export function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error('no CSRF token on the page');
  return m[1];
}

/** A customer with a calibrated balance, `days` days of usage and a record every 10 days. */
export async function seedCustomer(
  doc: DynamoDBDocumentClient,
  tableName: string,
  input: {
    customerId: string;
    account: string;
    openingGb: number;
    dailyMb: number;
    days: number;
    now: Date;
    zone?: string;
    calibrated?: boolean;
  },
): Promise<void> {
  const zone = input.zone ?? 'Asia/Shanghai';
  const today = dayInZone(input.now, zone);
  const first = addDays(today, -input.days);
  const usage = Array.from({ length: input.days }, (_, i) => ({
    customerId: input.customerId,
    day: addDays(first, i),
    userName: input.account,
    uploadMb: new Decimal(0),
    downloadMb: new Decimal(input.dailyMb),
  }));
  const records: CustomerRecord[] = [];
  for (let i = 0; i < input.days; i += 10) {
    const day = addDays(first, i);
    records.push({
      customerId: input.customerId,
      key: `${day} 10:00:00#0#r${i}#0`,
      day,
      type: 0,
      mb: new Decimal(10_240),
      account: input.account,
      createBy: 'agent',
      createId: '7',
      createTime: `${day} 10:00:00`,
      at: `${day}T02:00:00.000Z`,
    });
  }
  const recent = new Map<string, Decimal>();
  for (const u of usage.slice(-8)) recent.set(u.day, u.downloadMb);
  const settled = usage.slice(0, -8);
  const state: BalanceState = {
    customerId: input.customerId,
    account: input.account,
    creditsMb: new Decimal(10_240 * records.length),
    deductionsMb: new Decimal(0),
    settledMb: new Decimal(input.dailyMb * settled.length),
    ...(settled.length ? { settledThrough: settled[settled.length - 1]?.day ?? first } : {}),
    recent,
  };
  if (input.calibrated !== false) {
    state.opening = {
      mb: new Decimal(input.openingGb * 1024),
      at: `${first}T00:00:00.000Z`,
      day: addDays(first, -1),
      dayBaseMb: new Decimal(0),
    };
  } else {
    state.creditsMb = new Decimal(0);
  }
  await new UsageStore(doc, tableName, { retentionDays: 800 }).put(usage, input.now);
  if (input.calibrated !== false)
    await new CustomerRecordStore(doc, tableName).put(records, input.now);
  await new CustomerBalanceStore(doc, tableName).write([{ state, version: undefined }], input.now);
}
