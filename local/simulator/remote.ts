import type { FaultSpec, SimCall } from './server.ts';
import type {
  ConsumeDayInput,
  CustomerInput,
  CustomerView,
  DeductionView,
  NniDayInput,
  OrderView,
  PoolView,
  RecordInput,
  SimEndpoint,
  SimOptions,
  SimPoolId,
  UsageRowInput,
} from './state.ts';

/** The simulator's `/_sim/` control API from another process (e2e tests, the local runtime). */
export interface RemoteSimulator {
  reset(opts?: { seed?: number; seedData?: boolean }): Promise<void>;
  setOptions(options: Partial<SimOptions>): Promise<void>;
  setNow(now: Date | null): Promise<void>;
  setPool(pool: SimPoolId, totals: Partial<Record<keyof PoolView, string | number>>): Promise<void>;
  getPools(): Promise<Record<SimPoolId, PoolView>>;
  addCustomers(customers: CustomerInput[]): Promise<CustomerView[]>;
  addUsageRows(rows: UsageRowInput[]): Promise<void>;
  generateUsage(
    count: number,
    opts?: { endDate?: string; customerIds?: string[] },
  ): Promise<number>;
  setConsumeSeries(days: ConsumeDayInput[]): Promise<void>;
  setNniSeries(days: NniDayInput[]): Promise<void>;
  addRecords(records: RecordInput[], opts?: { forMe?: boolean }): Promise<void>;
  ledger(): Promise<OrderView[]>;
  deductions(): Promise<DeductionView[]>;
  addFault(fault: FaultSpec): Promise<void>;
  clearFaults(): Promise<void>;
  calls(endpoint?: SimEndpoint): Promise<SimCall[]>;
  counters(): Promise<Record<SimEndpoint, number>>;
  clearCalls(): Promise<void>;
}

/** `origin` is the simulator's `http://host:port` (its `url` without `/prod-api`). */
export function remoteSimulator(origin: string): RemoteSimulator {
  const base = `${origin.replace(/\/+$/, '')}/_sim/`;
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok)
      throw new Error(`simulator ${method} /_sim/${path} answered ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  }
  return {
    reset: async (opts = {}) => void (await call('POST', 'reset', opts)),
    setOptions: async (options) => void (await call('PUT', 'options', options)),
    setNow: async (now) => void (await call('PUT', 'clock', { now: now?.toISOString() ?? null })),
    setPool: async (pool, totals) => void (await call('PUT', `pools/${pool}`, totals)),
    getPools: () => call('GET', 'pools'),
    addCustomers: (customers) => call('POST', 'customers', customers),
    addUsageRows: async (rows) => void (await call('POST', 'usage', { rows })),
    generateUsage: async (count, opts = {}) =>
      (await call<{ added: number }>('POST', 'usage/generate', { ...opts, count })).added,
    setConsumeSeries: async (days) => void (await call('PUT', 'series/consume', { days })),
    setNniSeries: async (days) => void (await call('PUT', 'series/nni', { days })),
    addRecords: async (records, opts = {}) =>
      void (await call('POST', 'records', { records, forMe: opts.forMe === true })),
    ledger: () => call('GET', 'ledger'),
    deductions: () => call('GET', 'deductions'),
    addFault: async (fault) => void (await call('POST', 'faults', fault)),
    clearFaults: async () => void (await call('DELETE', 'faults')),
    calls: (endpoint) => call('GET', endpoint ? `calls?endpoint=${endpoint}` : 'calls'),
    counters: () => call('GET', 'counters'),
    clearCalls: async () => void (await call('DELETE', 'calls')),
  };
}
