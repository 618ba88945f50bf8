import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_UPSTREAM_ZONE } from '../../functions/commons/units.ts';
import { allowedHosts } from '../runtime/env.ts';
import { crossSiteRefusal, hostRefusal, isSafeMethod } from '../runtime/guard.ts';
import { seededRandom, writeJson } from './json.ts';
import { readSnapshot, writeSnapshot } from './snapshot.ts';
import {
  type ConsumeDayInput,
  type CustomerInput,
  type CustomerView,
  DEFAULT_OPTIONS,
  type DeductionView,
  type Envelope,
  MSG,
  type NniDayInput,
  type OrderView,
  type PoolView,
  type RecordInput,
  type RecordView,
  SIM_ENDPOINTS,
  type SimEndpoint,
  type SimOptions,
  type SimPoolId,
  SimState,
  type TrafficUseInput,
  type UsageRowInput,
  type UsageRowView,
} from './state.ts';

/**
 * What a fault does to a matching call:
 * - `status`: HTTP `status` (default 502) with an HTML body;
 * - `hang`: never answers (until the client gives up or the simulator closes);
 * - `html`: HTTP 200 with an HTML page; `empty`: HTTP 200 with no body;
 * - `reset`: destroys the connection without applying anything;
 * - `drop-after-apply`: applies the call (recharge, deduction) then destroys the connection;
 * - `code`: a well-formed envelope with `code` and `msg` (default 500 / 系统繁忙);
 * - `auth`: the auth-failure envelope even with the right token;
 * - `no-data`: `code: 200` with `data: null` and an ordinary message;
 * - `latency`: waits `delayMs`, then goes on (adds up with other faults).
 */
export type FaultKind =
  | 'status'
  | 'hang'
  | 'html'
  | 'empty'
  | 'reset'
  | 'drop-after-apply'
  | 'code'
  | 'auth'
  | 'no-data'
  | 'latency';

export interface FaultSpec {
  kind: FaultKind;
  /** @default '*' (every endpoint) */
  endpoint?: SimEndpoint | '*';
  /** How many matching calls it hits, then it is gone. @default unlimited */
  times?: number;
  status?: number;
  delayMs?: number;
  code?: number;
  msg?: string;
}

export interface SimCall {
  seq: number;
  endpoint: SimEndpoint;
  /** Query parameters as received (the token travels in a header and is not recorded). */
  query: Record<string, string>;
  authorized: boolean;
  fault?: FaultKind;
  at: string;
}

export interface SimulatorOptions {
  /** @default 0 (a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /**
   * Host names (lower case, no port) requests may name in `Host`; others get 403, so a web
   * page cannot reach the control API through DNS rebinding. @default allowedHosts(host)
   */
  allowedHosts?: ReadonlySet<string>;
  /** The token the simulator accepts in the `token` header. @default 'simulator-token' */
  token?: string;
  /** Seeds generated data and the number-style coin. @default 1 */
  seed?: number;
  /** Start with a plausible agent (pools, customers, 30 days of usage). @default false */
  seedData?: boolean;
  /** Path prefix of the API. @default '/prod-api' */
  basePath?: string;
  /** The upstream's calendar for dates and createTime. @default 'Asia/Shanghai' */
  zone?: string;
  /** Clock for createTime and "today". @default the system clock */
  now?: () => Date;
  options?: Partial<SimOptions>;
  /**
   * A file that keeps the state across restarts: read at start when it exists (instead of
   * `seedData`), written after every change. Faults, the call log and the clock are not kept.
   */
  stateFile?: string;
}

export interface Simulator {
  /** Base URL for the client, e.g. `http://127.0.0.1:PORT/prod-api`. */
  readonly url: string;
  /** `http://127.0.0.1:PORT`; the control API lives under `${origin}/_sim/`. */
  readonly origin: string;
  readonly token: string;
  close(): Promise<void>;
  /** Empties state, faults and the call log; `seedData` refills from the seed. */
  reset(opts?: { seed?: number; seedData?: boolean }): void;
  setOptions(options: Partial<SimOptions>): void;
  /** Fixes the clock (`null` returns to the system clock). */
  setNow(now: Date | null): void;
  setPool(pool: SimPoolId, totals: Partial<Record<keyof PoolView, string | number>>): void;
  getPools(): Record<SimPoolId, PoolView>;
  addCustomer(customer: CustomerInput): CustomerView;
  getCustomer(customerId: string): CustomerView | undefined;
  listCustomers(): CustomerView[];
  addUsageRows(rows: UsageRowInput[]): void;
  generateUsage(count: number, opts?: { endDate?: string; customerIds?: string[] }): number;
  listUsage(): UsageRowView[];
  /** A customer uses traffic: today's usage row grows, the balance falls. */
  useTraffic(input: TrafficUseInput): CustomerView;
  /** A top-up by hand in the vendor console (a type 0 record, no orderId). */
  consoleTopUp(input: { customerId: string; mb: string | number; createBy?: string }): CustomerView;
  setConsumeSeries(days: ConsumeDayInput[]): void;
  setNniSeries(days: NniDayInput[]): void;
  addRecords(records: RecordInput[], opts?: { forMe?: boolean }): void;
  listRecords(opts?: { forMe?: boolean }): RecordView[];
  /** Applied recharges, one per orderId. */
  ledger(): OrderView[];
  deductions(): DeductionView[];
  addFault(fault: FaultSpec): void;
  clearFaults(): void;
  calls(endpoint?: SimEndpoint): SimCall[];
  callCount(endpoint?: SimEndpoint): number;
  clearCalls(): void;
}

const HTML_PAGE =
  '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>' +
  '<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>';

/** Endpoints that change the state (the others only read). */
const MUTATING = new Set<SimEndpoint>(['rechargeTrafficCount', 'deductionFlow']);

const ROUTES = new Map<string, SimEndpoint>(
  Object.entries(SIM_ENDPOINTS).map(([name, path]) => [path, name as SimEndpoint]),
);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const token = opts.token ?? 'simulator-token';
  const basePath = (opts.basePath ?? '/prod-api').replace(/\/$/, '');
  let seed = opts.seed ?? 1;
  let fixedNow: Date | null = null;
  const clock = { now: () => fixedNow ?? opts.now?.() ?? new Date() };
  const state = new SimState(
    clock,
    opts.zone ?? DEFAULT_UPSTREAM_ZONE,
    seed,
    opts.seedData ?? false,
  );
  state.options = { ...DEFAULT_OPTIONS, ...opts.options };
  const stateFile = opts.stateFile;
  const saved = stateFile ? readSnapshot(stateFile) : undefined;
  if (saved) state.restore(saved);
  const save = () => {
    if (stateFile) writeSnapshot(stateFile, state.toSnapshot());
  };
  if (!saved) save();
  /** Wraps a mutation so that the state file follows it. */
  const saving =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): R => {
      const result = fn(...args);
      save();
      return result;
    };
  let coin = seededRandom(seed ^ 0x5bd1e995);
  let faults: FaultSpec[] = [];
  let callLog: SimCall[] = [];
  const hanging = new Set<ServerResponse>();

  function takeFaults(endpoint: SimEndpoint): FaultSpec[] {
    const hit: FaultSpec[] = [];
    let blocking = false;
    for (const f of faults) {
      if ((f.endpoint ?? '*') !== '*' && f.endpoint !== endpoint) continue;
      if (f.kind !== 'latency') {
        if (blocking) continue;
        blocking = true;
      }
      hit.push(f);
      if (f.times !== undefined) f.times -= 1;
    }
    faults = faults.filter((f) => f.times === undefined || f.times > 0);
    return hit;
  }

  function send(res: ServerResponse, status: number, type: string, body: string): void {
    res.writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  function sendEnvelope(res: ServerResponse, envelope: Envelope): void {
    const style = state.options.numberStyle;
    const asString = () => style === 'string' || (style === 'mixed' && coin() < 0.5);
    send(res, 200, 'application/json;charset=UTF-8', writeJson(envelope, asString));
  }

  async function api(
    endpoint: SimEndpoint,
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
  ): Promise<void> {
    const query = Object.fromEntries(url.searchParams);
    const authorized = req.headers.token === token;
    const hit = takeFaults(endpoint);
    const fault = hit.find((f) => f.kind !== 'latency');
    callLog.push({
      seq: callLog.length + 1,
      endpoint,
      query,
      authorized,
      ...(fault ? { fault: fault.kind } : {}),
      at: new Date().toISOString(),
    });
    const delay = hit.reduce((ms, f) => ms + (f.kind === 'latency' ? (f.delayMs ?? 0) : 0), 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));

    switch (fault?.kind) {
      case 'status':
        return send(res, fault.status ?? 502, 'text/html', HTML_PAGE);
      case 'hang':
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      case 'html':
        return send(res, 200, 'text/html;charset=UTF-8', HTML_PAGE);
      case 'empty':
        return send(res, 200, 'application/json', '');
      case 'reset':
        req.socket.destroy();
        return;
      case 'code':
        return sendEnvelope(res, { msg: fault.msg ?? '系统繁忙', code: fault.code ?? 500 });
      case 'auth':
        return sendEnvelope(res, { code: 200, msg: MSG.auth, data: null });
      case 'no-data':
        return sendEnvelope(res, { msg: fault.msg ?? MSG.operation, code: 200, data: null });
      default:
    }
    if (!authorized) return sendEnvelope(res, { code: 200, msg: MSG.auth, data: null });
    const envelope = state.answer(endpoint, query);
    if (MUTATING.has(endpoint)) save();
    if (fault?.kind === 'drop-after-apply') {
      req.socket.destroy();
      return;
    }
    sendEnvelope(res, envelope);
  }

  async function readJson(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return {};
    try {
      return JSON.parse(text);
    } catch {
      throw new HttpError(400, 'body is not JSON');
    }
  }

  function control(method: string, path: string, body: unknown, url: URL): unknown {
    const b = (body ?? {}) as Record<string, unknown>;
    const list = <T>(key: string): T[] => {
      if (Array.isArray(body)) return body as T[];
      const v = b[key];
      if (!Array.isArray(v)) throw new HttpError(400, `body.${key} must be an array`);
      return v as T[];
    };
    const route = `${method} ${path}`;
    switch (route) {
      case 'GET /_sim/state':
        return {
          pools: sim.getPools(),
          customers: sim.listCustomers(),
          ledger: sim.ledger(),
          deductions: sim.deductions(),
          options: state.options,
          faults,
          counters: counters(),
        };
      case 'POST /_sim/reset':
        sim.reset(b as { seed?: number; seedData?: boolean });
        return { ok: true };
      case 'PUT /_sim/options':
        sim.setOptions(b as Partial<SimOptions>);
        return state.options;
      case 'PUT /_sim/clock':
        sim.setNow(typeof b.now === 'string' ? new Date(b.now) : null);
        return { now: clock.now().toISOString() };
      case 'GET /_sim/pools':
        return sim.getPools();
      case 'PUT /_sim/pools/primary':
      case 'PUT /_sim/pools/secondary':
        sim.setPool(path.endsWith('primary') ? 'primary' : 'secondary', b);
        return sim.getPools();
      case 'GET /_sim/customers':
        return sim.listCustomers();
      case 'POST /_sim/customers':
        return (
          Array.isArray(body) ? (body as CustomerInput[]) : [b as unknown as CustomerInput]
        ).map((c) => sim.addCustomer(c));
      case 'POST /_sim/customers/use':
        return sim.useTraffic(b as unknown as TrafficUseInput);
      case 'POST /_sim/customers/topup':
        return sim.consoleTopUp(b as unknown as { customerId: string; mb: string });
      case 'GET /_sim/usage':
        return sim.listUsage();
      case 'POST /_sim/usage':
        sim.addUsageRows(list<UsageRowInput>('rows'));
        return { total: sim.listUsage().length };
      case 'POST /_sim/usage/generate':
        return {
          added: sim.generateUsage(
            Number(b.count ?? 0),
            b as { endDate?: string; customerIds?: string[] },
          ),
          total: sim.listUsage().length,
        };
      case 'PUT /_sim/series/consume':
        sim.setConsumeSeries(list<ConsumeDayInput>('days'));
        return { ok: true };
      case 'PUT /_sim/series/nni':
        sim.setNniSeries(list<NniDayInput>('days'));
        return { ok: true };
      case 'GET /_sim/records':
        return sim.listRecords({ forMe: url.searchParams.get('forMe') === 'true' });
      case 'POST /_sim/records':
        sim.addRecords(list<RecordInput>('records'), { forMe: b.forMe === true });
        return { ok: true };
      case 'GET /_sim/ledger':
        return sim.ledger();
      case 'GET /_sim/deductions':
        return sim.deductions();
      case 'GET /_sim/faults':
        return faults;
      case 'POST /_sim/faults':
        for (const f of Array.isArray(body) ? (body as FaultSpec[]) : [b as unknown as FaultSpec])
          sim.addFault(f);
        return faults;
      case 'DELETE /_sim/faults':
        sim.clearFaults();
        return faults;
      case 'GET /_sim/calls':
        return sim.calls((url.searchParams.get('endpoint') as SimEndpoint | null) ?? undefined);
      case 'DELETE /_sim/calls':
        sim.clearCalls();
        return { ok: true };
      case 'GET /_sim/counters':
        return counters();
      default:
        throw new HttpError(404, `no control route ${route}`);
    }
  }

  function counters(): Record<SimEndpoint, number> {
    const out = Object.fromEntries(Object.keys(SIM_ENDPOINTS).map((e) => [e, 0])) as Record<
      SimEndpoint,
      number
    >;
    for (const c of callLog) out[c.endpoint] += 1;
    return out;
  }

  const hosts = opts.allowedHosts ?? allowedHosts(opts.host ?? '127.0.0.1');

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const method = req.method ?? 'GET';
    const isControl = url.pathname.startsWith('/_sim/');
    // The control API changes balances and ledgers: as the runtime, no foreign Host, and no
    // change a browser makes on behalf of another site.
    const refused =
      hostRefusal(req, hosts) ??
      (isControl && !isSafeMethod(method) ? crossSiteRefusal(req, hosts) : undefined);
    if (refused) {
      req.resume();
      return send(res, 403, 'application/json', JSON.stringify({ error: refused }));
    }
    if (isControl) {
      try {
        const body = method === 'GET' || method === 'DELETE' ? undefined : await readJson(req);
        const result = control(method, url.pathname, body, url);
        return send(res, 200, 'application/json', JSON.stringify(result));
      } catch (err) {
        const status = err instanceof HttpError ? err.status : 400;
        const message = err instanceof Error ? err.message : String(err);
        return send(res, status, 'application/json', JSON.stringify({ error: message }));
      }
    }
    const endpoint = url.pathname.startsWith(`${basePath}/`)
      ? ROUTES.get(url.pathname.slice(basePath.length))
      : undefined;
    if (!endpoint) return send(res, 404, 'text/html', '<html><body>404 Not Found</body></html>');
    if (method !== 'GET') return send(res, 405, 'text/html', '<html><body>405</body></html>');
    await api(endpoint, req, res, url);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      console.error('simulator: request failed', err);
      if (!res.headersSent) send(res, 500, 'text/html', '<html><body>500</body></html>');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const origin = `http://${host}:${address.port}`;

  const sim: Simulator = {
    url: `${origin}${basePath}`,
    origin,
    token,
    async close() {
      save();
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    reset: saving((o: { seed?: number; seedData?: boolean } = {}) => {
      seed = o.seed ?? seed;
      state.reset(seed, o.seedData ?? false);
      state.options = { ...DEFAULT_OPTIONS, ...opts.options };
      coin = seededRandom(seed ^ 0x5bd1e995);
      faults = [];
      callLog = [];
    }),
    setOptions: saving((o: Partial<SimOptions>) => {
      state.options = { ...state.options, ...o };
    }),
    setNow: (now) => {
      fixedNow = now;
    },
    setPool: saving((pool: SimPoolId, totals: Partial<Record<keyof PoolView, string | number>>) =>
      state.setPool(pool, totals),
    ),
    getPools: () => state.getPools(),
    addCustomer: saving((c: CustomerInput) => state.addCustomer(c)),
    getCustomer: (id) => state.getCustomer(id),
    listCustomers: () => state.listCustomers(),
    addUsageRows: saving((rows: UsageRowInput[]) => state.addUsageRows(rows)),
    generateUsage: saving((count: number, o?: { endDate?: string; customerIds?: string[] }) =>
      state.generateUsage(count, o),
    ),
    listUsage: () => state.listUsage(),
    useTraffic: saving((input: Parameters<SimState['useTraffic']>[0]) => state.useTraffic(input)),
    consoleTopUp: saving((input: Parameters<SimState['consoleTopUp']>[0]) =>
      state.consoleTopUp(input),
    ),
    setConsumeSeries: saving((days: ConsumeDayInput[]) => state.setConsumeSeries(days)),
    setNniSeries: saving((days: NniDayInput[]) => state.setNniSeries(days)),
    addRecords: saving((records: RecordInput[], o?: { forMe?: boolean }) =>
      state.addRecords(records, o?.forMe ?? false),
    ),
    listRecords: (o) => state.listRecords(o?.forMe ?? false),
    ledger: () => state.ledger(),
    deductions: () => state.deductions(),
    addFault(fault) {
      if (fault.endpoint && fault.endpoint !== '*' && !(fault.endpoint in SIM_ENDPOINTS)) {
        throw new HttpError(400, `unknown endpoint ${fault.endpoint}`);
      }
      faults.push({ ...fault });
    },
    clearFaults() {
      faults = [];
    },
    calls: (endpoint) =>
      callLog
        .filter((c) => endpoint === undefined || c.endpoint === endpoint)
        .map((c) => ({ ...c })),
    callCount: (endpoint) =>
      endpoint === undefined
        ? callLog.length
        : callLog.filter((c) => c.endpoint === endpoint).length,
    clearCalls() {
      callLog = [];
    },
  };
  return sim;
}
