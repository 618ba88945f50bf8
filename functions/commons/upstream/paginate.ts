import { FLOW_REPORT_MAX_PAGE_SIZE } from './client.ts';
import type {
  CallOptions,
  DateRange,
  DynamicTrafficApi,
  Page,
  RechargeRecord,
  UsageRow,
} from './types.ts';

export interface NumberedPage<T> extends Page<T> {
  pageNum: number;
}

export interface PaginateOptions {
  /** Rows asked per page; must not exceed what the endpoint honours. */
  pageSize: number;
  /** Pages fetched at once once the total is known. @default 1 */
  concurrency?: number;
}

/**
 * Walks a paginated list page by page, in order. Stops at an empty or short page, or once
 * the rows collected reach the latest `total`: 4,500 rows at 2,000 a page take 3 calls.
 */
export async function* paginate<T>(
  fetchPage: (pageNum: number) => Promise<Page<T>>,
  opts: PaginateOptions,
): AsyncGenerator<NumberedPage<T>, void, undefined> {
  const { pageSize } = opts;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError('pageSize must be >= 1');
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
  let collected = 0;
  let next = 1;
  let total = Number.POSITIVE_INFINITY;
  while (true) {
    // Beyond page 1 the total says how many pages are left: never ask past the end.
    const left = Number.isFinite(total) ? Math.ceil((total - collected) / pageSize) : 1;
    const batch = Math.max(1, Math.min(concurrency, left));
    const pageNums = Array.from({ length: batch }, (_, i) => next + i);
    const pages = await Promise.all(pageNums.map((n) => fetchPage(n)));
    next += batch;
    for (const [i, page] of pages.entries()) {
      collected += page.rows.length;
      total = page.total;
      yield { pageNum: pageNums[i] ?? 0, total: page.total, rows: page.rows };
      if (page.rows.length === 0 || page.rows.length < pageSize || collected >= total) return;
    }
  }
}

/** The rows of a page iterator, one by one. */
export async function* rowsOf<T>(
  pages: AsyncIterable<Page<T>>,
): AsyncGenerator<T, void, undefined> {
  for await (const page of pages) yield* page.rows;
}

export async function collectRows<T>(pages: AsyncIterable<Page<T>>): Promise<T[]> {
  const rows: T[] = [];
  for await (const page of pages) rows.push(...page.rows);
  return rows;
}

export interface PagesOptions extends CallOptions {
  pageSize?: number;
  concurrency?: number;
}

/** Usage rows (customer × day), 2,000 per call unless told otherwise. */
export function flowReportPages(
  client: DynamicTrafficApi,
  query: DateRange & { customerId?: string } = {},
  opts: PagesOptions = {},
): AsyncGenerator<NumberedPage<UsageRow>, void, undefined> {
  const pageSize = Math.min(opts.pageSize ?? FLOW_REPORT_MAX_PAGE_SIZE, FLOW_REPORT_MAX_PAGE_SIZE);
  const callOpts = opts.signal ? { signal: opts.signal } : {};
  return paginate((pageNum) => client.flowReport({ ...query, pageNum, pageSize }, callOpts), {
    pageSize,
    concurrency: opts.concurrency,
  });
}

/** The agent's recharge (type 0) or consumption (type 1) records, 100 per call by default. */
export function myRechargeFlowListPages(
  client: DynamicTrafficApi,
  query: DateRange & { type?: 0 | 1; account?: string } = {},
  opts: PagesOptions = {},
): AsyncGenerator<NumberedPage<RechargeRecord>, void, undefined> {
  const pageSize = opts.pageSize ?? 100;
  const callOpts = opts.signal ? { signal: opts.signal } : {};
  return paginate(
    (pageNum) => client.myRechargeFlowList({ ...query, pageNum, pageSize }, callOpts),
    { pageSize, concurrency: opts.concurrency },
  );
}

/** Records credited to the agent itself, 100 per call by default. */
export function rechargeFlowListForMePages(
  client: DynamicTrafficApi,
  query: DateRange & { account?: string } = {},
  opts: PagesOptions = {},
): AsyncGenerator<NumberedPage<RechargeRecord>, void, undefined> {
  const pageSize = opts.pageSize ?? 100;
  const callOpts = opts.signal ? { signal: opts.signal } : {};
  return paginate(
    (pageNum) => client.rechargeFlowListForMe({ ...query, pageNum, pageSize }, callOpts),
    { pageSize, concurrency: opts.concurrency },
  );
}
