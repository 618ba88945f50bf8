import { parseDecimal } from '../units.ts';
import type {
  ConsumeDay,
  FlowTotals,
  NniDay,
  Page,
  PoolTotals,
  RechargeRecord,
  UsageRow,
} from './types.ts';

/**
 * Reads the upstream's `data` payloads into FlowPilot's types. Every failure throws a plain
 * `ShapeError` naming the field; the client turns it into an UpstreamDataError.
 */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

type Json = Record<string, unknown>;

const DIGITS = /^\d+$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function object(value: unknown, what: string): Json {
  if (!isObject(value)) throw new ShapeError(`${what} is not an object`);
  return value;
}

function array(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new ShapeError(`${what} is not an array`);
  return value;
}

function decimal(value: unknown, what: string) {
  try {
    return parseDecimal(value, what);
  } catch (cause) {
    throw new ShapeError(`${what} is not a decimal number`, { cause });
  }
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new ShapeError(`${what} is not a string`);
  return value;
}

/** Optional text: the upstream sends null for an operator it does not know. */
function textOrEmpty(value: unknown, what: string): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return text(value, what);
}

function day(value: unknown, what: string): string {
  const d = text(value, what);
  if (!DAY.test(d)) throw new ShapeError(`${what} is not a yyyy-MM-dd date`);
  return d;
}

/** The reference calls it Long, Integer and String: always a string of digits here. */
export function customerId(value: unknown, what = 'customerId'): string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && DIGITS.test(value.trim())) return value.trim();
  throw new ShapeError(`${what} is not a customer id`);
}

function count(value: unknown, what: string): number {
  const n = typeof value === 'string' && DIGITS.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new ShapeError(`${what} is not a count`);
  }
  return n;
}

function pool(value: unknown, what: string): PoolTotals {
  const p = object(value, what);
  // The exact key wins; the trailing-space twin is only a fallback.
  const residual = p.residualFlow !== undefined ? p.residualFlow : p['residualFlow '];
  return {
    rechargedMb: decimal(p.flowCount, `${what}.flowCount`),
    consumedMb: decimal(p.consumeFlow, `${what}.consumeFlow`),
    residualMb: decimal(residual, `${what}.residualFlow`),
  };
}

export function parseFlowTotals(data: unknown): FlowTotals {
  const d = object(data, 'data');
  return { primary: pool(d.account, 'data.account'), secondary: pool(d.account2, 'data.account2') };
}

function page<T>(data: unknown, row: (r: Json, what: string) => T): Page<T> {
  const d = object(data, 'data');
  const rows = array(d.rows, 'data.rows').map((r, i) => {
    const what = `data.rows[${i}]`;
    return row(object(r, what), what);
  });
  return { total: count(d.total, 'data.total'), rows };
}

export function parseUsagePage(data: unknown): Page<UsageRow> {
  return page(data, (r, what) => ({
    reportDate: day(r.reportDate, `${what}.reportDate`),
    customerId: customerId(r.customerId, `${what}.customerId`),
    userName: textOrEmpty(r.userName, `${what}.userName`),
    uploadMb: decimal(r.uploadFlow, `${what}.uploadFlow`),
    downloadMb: decimal(r.downloadFlow, `${what}.downloadFlow`),
  }));
}

export function parseRecordPage(data: unknown): Page<RechargeRecord> {
  return page(data, (r, what) => ({
    customerId: customerId(r.customerId, `${what}.customerId`),
    account: textOrEmpty(r.account, `${what}.account`),
    flowMb: decimal(r.flowCount, `${what}.flowCount`),
    typeDesc: textOrEmpty(r.typeDesc, `${what}.typeDesc`),
    createId: textOrEmpty(r.createId, `${what}.createId`),
    createBy: textOrEmpty(r.createBy, `${what}.createBy`),
    createTime: text(r.createTime, `${what}.createTime`),
  }));
}

export function parseConsumeDays(data: unknown): ConsumeDay[] {
  return array(data, 'data').map((r, i) => {
    const what = `data[${i}]`;
    const o = object(r, what);
    return {
      date: day(o.date, `${what}.date`),
      uploadMb: decimal(o.uploadFlow, `${what}.uploadFlow`),
      downloadMb: decimal(o.downloadFlow, `${what}.downloadFlow`),
    };
  });
}

export function parseNniDays(data: unknown): NniDay[] {
  return array(data, 'data').map((r, i) => {
    const what = `data[${i}]`;
    const o = object(r, what);
    return { date: day(o.date, `${what}.date`), flowMb: decimal(o.flow, `${what}.flow`) };
  });
}
