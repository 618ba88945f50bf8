import { addDays, Decimal, dayInZone, gbToMb, mbToGb } from '../../functions/commons/units.ts';
import { Num, seededRandom } from './json.ts';

/**
 * The simulated upstream's state and the answers of its 8 endpoints, with the documented
 * shapes and traps. No HTTP here: server.ts adds transport, auth and faults.
 */

// Written out again on purpose, not imported from the client: the simulator stands for the
// vendor, so a wrong path in the client must fail against it rather than be copied here.
export const SIM_ENDPOINTS = {
  myRechargeFlowList: '/open/dynamic/myRechargeFlowList',
  rechargeFlowListForMe: '/open/dynamic/rechargeFlowListForMe',
  flowReport: '/open/dynamic/flowReport',
  getFlowTotalFull: '/api/agent/getFlowTotalFull',
  getNNIFlowConsumeDetail: '/api/agent/getNNIFlowConsumeDetail',
  getFlowConsumeDetail: '/api/agent/getFlowConsumeDetail',
  rechargeTrafficCount: '/api/agent/rechargeTrafficCount',
  deductionFlow: '/api/agent/deductionFlow',
} as const;

export type SimEndpoint = keyof typeof SIM_ENDPOINTS;
export type SimPoolId = 'primary' | 'secondary';

export const MSG = {
  auth: '无效的认证令牌',
  query: '查询成功',
  operation: '操作成功',
  recharged: '充值成功',
  deducted: '扣除成功',
  alreadyProcessed: '该订单已处理',
  notChannelCustomer: '该用户不是您的渠道客户',
  insufficientPool: '账户剩余流量不足',
  insufficientCustomer: '客户剩余流量不足',
  badParams: '参数错误',
  recharge: '充值',
  consume: '消耗',
} as const;

/** How the simulator prints numbers: as JSON numbers, as strings, or a seeded mix. */
export type NumberStyle = 'number' | 'string' | 'mixed';

export interface SimOptions {
  /** @default 'mixed' */
  numberStyle: NumberStyle;
  /** The code for a known orderId: the example says 201, the field table 203. @default 201 */
  alreadyProcessedCode: 201 | 203;
  /** Which residual keys getFlowTotalFull carries. @default 'both' */
  residualKey: 'both' | 'exact' | 'spaced';
}

export type Envelope = Record<string, unknown>;

export interface PoolView {
  rechargedMb: string;
  consumedMb: string;
  residualMb: string;
}

export interface CustomerInput {
  customerId: string;
  account?: string;
  userName?: string;
  /** @default true */
  inChannel?: boolean;
  balanceMb?: Decimal.Value;
}

export interface CustomerView {
  customerId: string;
  account: string;
  userName: string;
  inChannel: boolean;
  balanceMb: string;
}

export interface UsageRowInput {
  reportDate: string;
  customerId: string;
  userName?: string;
  uploadMb: Decimal.Value;
  downloadMb: Decimal.Value;
}

export interface UsageRowView {
  reportDate: string;
  customerId: string;
  userName: string;
  uploadMb: string;
  downloadMb: string;
}

export interface TrafficUseInput {
  customerId: string;
  /** @default today */
  day?: string;
  uploadMb?: Decimal.Value;
  downloadMb?: Decimal.Value;
}

export interface ConsumeDayInput {
  date: string;
  uploadMb: Decimal.Value;
  downloadMb: Decimal.Value;
}

export interface NniDayInput {
  date: string;
  flowMb: Decimal.Value;
}

export interface RecordInput {
  customerId: string;
  account: string;
  /** MB; negative for consumption. */
  flowMb: Decimal.Value;
  /** @default 0 when flowMb >= 0, else 1 */
  type?: 0 | 1;
  createId?: string;
  createBy?: string;
  /** `yyyy-MM-dd HH:mm:ss` in the upstream's zone. @default now */
  createTime?: string;
}

export interface RecordView {
  customerId: string;
  account: string;
  flowMb: string;
  type: 0 | 1;
  typeDesc: string;
  createId: string;
  createBy: string;
  createTime: string;
}

/** One applied recharge, keyed by orderId. */
export interface OrderView {
  orderId: string;
  customerId: string;
  trafficGb: string;
  flowMb: string;
  createTime: string;
}

export interface DeductionView {
  customerId: string;
  trafficGb: string;
  flowMb: string;
  createTime: string;
}

interface Pool {
  rechargedMb: Decimal;
  consumedMb: Decimal;
  residualMb: Decimal;
}

interface Customer {
  customerId: string;
  account: string;
  userName: string;
  inChannel: boolean;
  balanceMb: Decimal;
}

interface UsageRow {
  reportDate: string;
  customerId: string;
  userName: string;
  uploadMb: Decimal;
  downloadMb: Decimal;
}

interface RecordRow {
  customerId: string;
  account: string;
  flowMb: Decimal;
  type: 0 | 1;
  createId: string;
  createBy: string;
  createTime: string;
}

const DIGITS = /^\d+$/;
const DECIMAL = /^\d+(\.\d+)?$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const OPERATOR = { createId: '98765', createBy: 'flowpilot-agent' };
/**
 * Days of burn each seeded customer's purchases leave on its balance: most comfortably
 * funded, two running low, so the demo's balances, notices and page have something to show.
 */
const SEED_FUNDING: Record<string, number> = {
  '1001': 20,
  '1002': 30,
  '1003': 1.5,
  '1004': 10,
  '1005': 2.5,
};

/** SimState fields that are not data: the clock, the calendar and the generator. */
const UNSAVED = new Set(['clock', 'zone', 'random']);

export const DEFAULT_OPTIONS: SimOptions = {
  numberStyle: 'mixed',
  alreadyProcessedCode: 201,
  residualKey: 'both',
};

function mb(value: Decimal.Value, what: string): Decimal {
  const d = new Decimal(value);
  if (!d.isFinite()) throw new TypeError(`${what} is not a finite number`);
  return d;
}

function flow(d: Decimal): Num {
  return new Num(d.toFixed(2));
}

function id(text: string): Num {
  return new Num(text);
}

export function wallTime(instant: Date, zone: string): string {
  const p: Record<string, string> = {};
  const f = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  });
  for (const part of f.formatToParts(instant)) p[part.type] = part.value;
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

function inRange(day: string, start: string | undefined, end: string | undefined): boolean {
  return (!start || day >= start) && (!end || day <= end);
}

function intParam(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

function listEnvelope(outerMsg: string, total: number, rows: unknown[], extra: Envelope = {}) {
  return {
    code: 200,
    msg: outerMsg,
    data: { total, rows, code: 200, msg: MSG.query, ...extra },
  };
}

export class SimState {
  options: SimOptions = { ...DEFAULT_OPTIONS };
  private pools: Record<SimPoolId, Pool> = { primary: emptyPool(), secondary: emptyPool() };
  private customers = new Map<string, Customer>();
  private usage = new Map<string, UsageRow>();
  private consume = new Map<string, { uploadMb: Decimal; downloadMb: Decimal }>();
  private nni = new Map<string, Decimal>();
  private orders = new Map<string, OrderView>();
  private deductionList: DeductionView[] = [];
  private records: RecordRow[] = [];
  private recordsForMe: RecordRow[] = [];
  private random: () => number = Math.random;

  constructor(
    private readonly clock: { now: () => Date },
    readonly zone: string,
    seed: number,
    seedData: boolean,
  ) {
    this.reset(seed, seedData);
  }

  /** Empties everything; with `seedData` fills a plausible agent from the seed. */
  reset(seed: number, seedData: boolean): void {
    this.pools = { primary: emptyPool(), secondary: emptyPool() };
    this.customers = new Map();
    this.usage = new Map();
    this.consume = new Map();
    this.nni = new Map();
    this.orders = new Map();
    this.deductionList = [];
    this.records = [];
    this.recordsForMe = [];
    this.random = seededRandom(seed);
    if (seedData) this.fill();
  }

  private fill(): void {
    for (let i = 1; i <= 5; i++) {
      this.addCustomer({ customerId: String(1000 + i), account: `customer${i}@example.com` });
    }
    this.addCustomer({ customerId: '9001', account: 'stranger@example.com', inChannel: false });
    this.generateUsage(5 * 30);
    const sold = this.fillPurchases();
    // The agent bought its primary pool in 5 TB lots, and what it sold its customers came out of it.
    const fiveTb = 5242880;
    const lots = sold.div(fiveTb).ceil().plus(1).toNumber();
    const today = this.today();
    this.addRecords(
      Array.from({ length: lots }, (_, i) => ({
        customerId: '1',
        account: 'vendor',
        flowMb: fiveTb,
        createBy: 'vendor',
        createId: '1',
        createTime: `${addDays(today, -60 + i * 20)} 10:00:00`,
      })),
      true,
    );
    this.setPool('primary', {
      rechargedMb: lots * fiveTb,
      consumedMb: sold,
      residualMb: new Decimal(lots * fiveTb).minus(sold),
    });
    this.setPool('secondary', { rechargedMb: fiveTb, consumedMb: 0, residualMb: fiveTb });
    const consume: ConsumeDayInput[] = [];
    const nni: NniDayInput[] = [];
    for (let i = 29; i >= 0; i--) {
      const date = addDays(today, -i);
      consume.push({
        date,
        uploadMb: this.amount(2000, 12000),
        downloadMb: this.amount(20000, 60000),
      });
      nni.push({ date, flowMb: this.amount(15000, 40000) });
    }
    this.setConsumeSeries(consume);
    this.setNniSeries(nni);
  }

  /**
   * Each seeded customer's purchase history, as the upstream lists it: a top-up (type 0)
   * at the start of each week of usage that covers the week, the last one sized so the
   * balance ends at SEED_FUNDING days of the customer's burn (the smaller of yesterday and
   * the last 7 days, as FlowPilot counts it). The vendor's balance follows. Returns the MB sold.
   */
  private fillPurchases(): Decimal {
    const today = this.today();
    let sold = new Decimal(0);
    for (const [customerId, days] of Object.entries(SEED_FUNDING)) {
      const c = this.customers.get(customerId);
      if (!c) continue;
      const used = new Map(
        [...this.usage.values()]
          .filter((r) => r.customerId === customerId)
          .map((r) => [r.reportDate, r.uploadMb.plus(r.downloadMb)]),
      );
      const usedOn = (day: string) => used.get(day) ?? new Decimal(0);
      const dates = [...used.keys()].sort();
      const total = Decimal.sum(0, ...used.values());
      const yesterday = addDays(today, -1);
      const week = Decimal.sum(
        0,
        ...Array.from({ length: 7 }, (_, i) => usedOn(addDays(yesterday, -i))),
      ).div(7);
      const burn = Decimal.min(usedOn(yesterday), week);
      const target = gbToMb(mbToGb(total.plus(burn.mul(days))).ceil());
      // Weeks counted back from today, so the last top-up covers a whole week.
      const starts = dates.filter((_, i) => (dates.length - 1 - i) % 7 === 6 || i === 0);
      let given = new Decimal(0);
      starts.forEach((start, i) => {
        const next = starts[i + 1];
        const weekUse = Decimal.sum(
          0,
          ...dates.filter((d) => d >= start && (!next || d < next)).map(usedOn),
        );
        const mb = next
          ? gbToMb(mbToGb(weekUse).ceil())
          : Decimal.max(target.minus(given), gbToMb(1));
        given = given.plus(mb);
        const at = `${start} ${String(8 + Math.floor(this.random() * 4)).padStart(2, '0')}:${String(Math.floor(this.random() * 60)).padStart(2, '0')}:${String(Math.floor(this.random() * 60)).padStart(2, '0')}`;
        this.addRecords([{ customerId, account: c.account, flowMb: mb, createTime: at }]);
      });
      c.balanceMb = given.minus(total);
      sold = sold.plus(given);
    }
    return sold;
  }

  private amount(min: number, max: number): Decimal {
    return new Decimal(min + this.random() * (max - min)).toDecimalPlaces(2);
  }

  today(): string {
    return dayInZone(this.clock.now(), this.zone);
  }

  private nowText(): string {
    return wallTime(this.clock.now(), this.zone);
  }

  // ---- persistence --------------------------------------------------------------------

  /**
   * Every data field of the state, for snapshot.ts to save: a field added to this class is
   * saved and restored with no further code, as long as it holds plain data, Decimals, Maps
   * and arrays. Only what comes from the constructor or cannot be saved is left out.
   */
  toSnapshot(): Record<string, unknown> {
    return Object.fromEntries(
      Object.entries(this).filter(([k, v]) => !UNSAVED.has(k) && typeof v !== 'function'),
    );
  }

  /** Puts back what toSnapshot gave; fields this version no longer has are ignored. */
  restore(saved: Record<string, unknown>): void {
    for (const [k, v] of Object.entries(saved)) {
      if (k in this && !UNSAVED.has(k)) (this as unknown as Record<string, unknown>)[k] = v;
    }
  }

  // ---- control ------------------------------------------------------------------------

  setPool(pool: SimPoolId, totals: Partial<Record<keyof PoolView, Decimal.Value>>): void {
    const p = this.pools[pool];
    if (totals.rechargedMb !== undefined) p.rechargedMb = mb(totals.rechargedMb, 'rechargedMb');
    if (totals.consumedMb !== undefined) p.consumedMb = mb(totals.consumedMb, 'consumedMb');
    if (totals.residualMb !== undefined) p.residualMb = mb(totals.residualMb, 'residualMb');
  }

  getPools(): Record<SimPoolId, PoolView> {
    const view = (p: Pool): PoolView => ({
      rechargedMb: p.rechargedMb.toFixed(),
      consumedMb: p.consumedMb.toFixed(),
      residualMb: p.residualMb.toFixed(),
    });
    return { primary: view(this.pools.primary), secondary: view(this.pools.secondary) };
  }

  addCustomer(input: CustomerInput): CustomerView {
    if (!DIGITS.test(input.customerId)) throw new TypeError('customerId must be digits');
    const account = input.account ?? `customer${input.customerId}@example.com`;
    const c: Customer = {
      customerId: input.customerId,
      account,
      userName: input.userName ?? account,
      inChannel: input.inChannel ?? true,
      balanceMb: mb(input.balanceMb ?? 0, 'balanceMb'),
    };
    this.customers.set(c.customerId, c);
    return customerView(c);
  }

  getCustomer(customerId: string): CustomerView | undefined {
    const c = this.customers.get(customerId);
    return c && customerView(c);
  }

  listCustomers(): CustomerView[] {
    return [...this.customers.values()].map(customerView);
  }

  /** Upserts by (customer, day): today's row grows during the day. */
  addUsageRows(rows: UsageRowInput[]): void {
    for (const r of rows) {
      if (!DAY.test(r.reportDate)) throw new TypeError('reportDate must be yyyy-MM-dd');
      if (!DIGITS.test(r.customerId)) throw new TypeError('customerId must be digits');
      const userName =
        r.userName ?? this.customers.get(r.customerId)?.userName ?? `user${r.customerId}`;
      this.usage.set(`${r.reportDate}#${r.customerId}`, {
        reportDate: r.reportDate,
        customerId: r.customerId,
        userName,
        uploadMb: mb(r.uploadMb, 'uploadMb'),
        downloadMb: mb(r.downloadMb, 'downloadMb'),
      });
    }
  }

  /**
   * Adds `count` new seeded rows, one per (customer, day), walking back from `endDate`
   * (default today) over the given customers (default: the channel's, else 1001..1005).
   */
  generateUsage(count: number, opts: { endDate?: string; customerIds?: string[] } = {}): number {
    const fromState = [...this.customers.values()].filter((c) => c.inChannel);
    const ids =
      opts.customerIds ??
      (fromState.length > 0 ? fromState.map((c) => c.customerId) : ['1001', '1002', '1003']);
    if (ids.length === 0) throw new TypeError('no customers to generate usage for');
    let day = opts.endDate ?? this.today();
    let added = 0;
    let i = 0;
    while (added < count) {
      const customerId = ids[i % ids.length] ?? '';
      if (i > 0 && i % ids.length === 0) day = addDays(day, -1);
      i++;
      if (this.usage.has(`${day}#${customerId}`)) continue;
      this.addUsageRows([
        {
          reportDate: day,
          customerId,
          uploadMb: this.amount(0, 2000),
          downloadMb: this.amount(100, 60000),
        },
      ]);
      added++;
    }
    return added;
  }

  /**
   * A customer uses traffic: the day's flowReport row grows (upload and download, 2 decimals
   * as the upstream prints them) and the customer's balance falls by both. The balance the
   * vendor keeps is what FlowPilot's own balance is tested against.
   */
  useTraffic(input: TrafficUseInput): CustomerView {
    const c = this.customers.get(input.customerId);
    if (!c) throw new TypeError(`no customer ${input.customerId}`);
    const day = input.day ?? this.today();
    if (!DAY.test(day)) throw new TypeError('day must be yyyy-MM-dd');
    const up = mb(input.uploadMb ?? 0, 'uploadMb').toDecimalPlaces(2);
    const down = mb(input.downloadMb ?? 0, 'downloadMb').toDecimalPlaces(2);
    const row = this.usage.get(`${day}#${c.customerId}`);
    this.addUsageRows([
      {
        reportDate: day,
        customerId: c.customerId,
        userName: c.userName,
        uploadMb: (row?.uploadMb ?? new Decimal(0)).plus(up),
        downloadMb: (row?.downloadMb ?? new Decimal(0)).plus(down),
      },
    ]);
    c.balanceMb = c.balanceMb.minus(up).minus(down);
    return customerView(c);
  }

  /**
   * A top-up made by hand in the vendor's console: it reaches the customer's balance and
   * the recharge records (type 0, another operator) like any other, with no orderId.
   */
  consoleTopUp(input: { customerId: string; mb: Decimal.Value; createBy?: string }): CustomerView {
    const c = this.customers.get(input.customerId);
    if (!c) throw new TypeError(`no customer ${input.customerId}`);
    const moved = mb(input.mb, 'mb').toDecimalPlaces(2);
    if (moved.lte(0)) throw new TypeError('mb must be positive');
    c.balanceMb = c.balanceMb.plus(moved);
    this.records.push({
      customerId: c.customerId,
      account: c.account,
      flowMb: moved,
      type: 0,
      createId: '1',
      createBy: input.createBy ?? 'admin',
      createTime: this.nowText(),
    });
    return customerView(c);
  }

  listUsage(): UsageRowView[] {
    return this.sortedUsage().map((r) => ({
      reportDate: r.reportDate,
      customerId: r.customerId,
      userName: r.userName,
      uploadMb: r.uploadMb.toFixed(),
      downloadMb: r.downloadMb.toFixed(),
    }));
  }

  setConsumeSeries(days: ConsumeDayInput[]): void {
    this.consume = new Map(
      days.map((d) => [
        d.date,
        { uploadMb: mb(d.uploadMb, 'uploadMb'), downloadMb: mb(d.downloadMb, 'downloadMb') },
      ]),
    );
  }

  setNniSeries(days: NniDayInput[]): void {
    this.nni = new Map(days.map((d) => [d.date, mb(d.flowMb, 'flowMb')]));
  }

  /** Recharge records made outside FlowPilot (`forMe`: credited to the agent itself). */
  addRecords(records: RecordInput[], forMe = false): void {
    const target = forMe ? this.recordsForMe : this.records;
    for (const r of records) {
      const flowMb = mb(r.flowMb, 'flowMb');
      target.push({
        customerId: r.customerId,
        account: r.account,
        flowMb,
        type: r.type ?? (flowMb.isNegative() ? 1 : 0),
        createId: r.createId ?? OPERATOR.createId,
        createBy: r.createBy ?? OPERATOR.createBy,
        createTime: r.createTime ?? this.nowText(),
      });
    }
  }

  listRecords(forMe = false): RecordView[] {
    return (forMe ? this.recordsForMe : this.records).map((r) => ({
      customerId: r.customerId,
      account: r.account,
      flowMb: r.flowMb.toFixed(),
      type: r.type,
      typeDesc: r.type === 0 ? MSG.recharge : MSG.consume,
      createId: r.createId,
      createBy: r.createBy,
      createTime: r.createTime,
    }));
  }

  ledger(): OrderView[] {
    return [...this.orders.values()].map((o) => ({ ...o }));
  }

  deductions(): DeductionView[] {
    return this.deductionList.map((d) => ({ ...d }));
  }

  // ---- endpoints ----------------------------------------------------------------------

  answer(endpoint: SimEndpoint, q: Record<string, string>): Envelope {
    switch (endpoint) {
      case 'getFlowTotalFull':
        return this.flowTotalFull();
      case 'flowReport':
        return this.flowReport(q);
      case 'getFlowConsumeDetail':
        return this.consumeDetail(q);
      case 'getNNIFlowConsumeDetail':
        return this.nniDetail(q);
      case 'myRechargeFlowList':
        return this.recordPage(this.records, q, true);
      case 'rechargeFlowListForMe':
        return this.recordPage(this.recordsForMe, q, false);
      case 'rechargeTrafficCount':
        return this.recharge(q);
      case 'deductionFlow':
        return this.deduct(q);
    }
  }

  private flowTotalFull(): Envelope {
    const pool = (p: Pool) => {
      const out: Record<string, unknown> = { consumeFlow: flow(p.consumedMb) };
      if (this.options.residualKey !== 'exact') out['residualFlow '] = flow(p.residualMb);
      out.flowCount = new Num(p.rechargedMb.toFixed());
      if (this.options.residualKey !== 'spaced') out.residualFlow = flow(p.residualMb);
      return out;
    };
    return {
      msg: MSG.operation,
      code: 200,
      data: { account2: pool(this.pools.secondary), account: pool(this.pools.primary) },
    };
  }

  private sortedUsage(): UsageRow[] {
    return [...this.usage.values()].sort((a, b) =>
      a.reportDate === b.reportDate
        ? a.customerId.localeCompare(b.customerId, 'en', { numeric: true })
        : b.reportDate.localeCompare(a.reportDate),
    );
  }

  private flowReport(q: Record<string, string>): Envelope {
    const pageNum = intParam(q.pageNum, 1);
    const pageSize = Math.min(intParam(q.pageSize, 100), 2000);
    const rows = this.sortedUsage().filter(
      (r) =>
        (!q.customerId || r.customerId === q.customerId) &&
        inRange(r.reportDate, q.startDate, q.endDate),
    );
    const page = rows.slice((pageNum - 1) * pageSize, pageNum * pageSize).map((r) => ({
      reportDate: r.reportDate,
      customerId: id(r.customerId),
      userName: r.userName,
      uploadFlow: flow(r.uploadMb),
      downloadFlow: flow(r.downloadMb),
    }));
    return listEnvelope(MSG.operation, rows.length, page, { other: null });
  }

  private consumeDetail(q: Record<string, string>): Envelope {
    const data = [...this.consume.entries()]
      .filter(([date]) => inRange(date, q.startDate, q.endDate))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([date, d]) => ({
        date,
        downloadFlow: flow(d.downloadMb),
        uploadFlow: flow(d.uploadMb),
      }));
    return { msg: MSG.operation, code: 200, data };
  }

  private nniDetail(q: Record<string, string>): Envelope {
    const data = [...this.nni.entries()]
      .filter(([date]) => inRange(date, q.startDate, q.endDate))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([date, f]) => ({ date, flow: flow(f) }));
    return { msg: MSG.operation, code: 200, data };
  }

  private recordPage(source: RecordRow[], q: Record<string, string>, byType: boolean): Envelope {
    const pageNum = intParam(q.pageNum, 1);
    const pageSize = intParam(q.pageSize, 10);
    const type = q.type === '1' ? 1 : 0;
    const rows = source
      .filter(
        (r) =>
          (!byType || r.type === type) &&
          (!q.account || r.account === q.account) &&
          inRange(r.createTime.slice(0, 10), q.startDate, q.endDate),
      )
      .sort((a, b) => b.createTime.localeCompare(a.createTime));
    const page = rows.slice((pageNum - 1) * pageSize, pageNum * pageSize).map((r) => ({
      customerId: id(r.customerId),
      account: r.account,
      flowCount: flow(r.flowMb),
      typeDesc: r.type === 0 ? MSG.recharge : MSG.consume,
      createId: id(r.createId),
      createBy: r.createBy,
      createTime: r.createTime,
    }));
    return listEnvelope(MSG.query, rows.length, page);
  }

  private recharge(q: Record<string, string>): Envelope {
    const { customerId = '', orderId = '', trafficCount = '' } = q;
    if (!DIGITS.test(customerId) || orderId === '' || !DECIMAL.test(trafficCount)) {
      return { msg: MSG.badParams, code: 500 };
    }
    if (this.orders.has(orderId)) {
      return { msg: MSG.alreadyProcessed, code: this.options.alreadyProcessedCode };
    }
    const customer = this.customers.get(customerId);
    if (!customer?.inChannel) return { msg: MSG.notChannelCustomer, code: 204 };
    const gb = new Decimal(trafficCount);
    const moved = gbToMb(gb);
    if (gb.lte(0)) return { msg: MSG.badParams, code: 500 };
    const pool = this.pools.primary;
    if (pool.residualMb.lt(moved)) return { msg: MSG.insufficientPool, code: 500 };
    pool.residualMb = pool.residualMb.minus(moved);
    pool.consumedMb = pool.consumedMb.plus(moved);
    customer.balanceMb = customer.balanceMb.plus(moved);
    const createTime = this.nowText();
    this.orders.set(orderId, {
      orderId,
      customerId,
      trafficGb: gb.toFixed(),
      flowMb: moved.toFixed(),
      createTime,
    });
    this.records.push({
      customerId,
      account: customer.account,
      flowMb: moved,
      type: 0,
      ...OPERATOR,
      createTime,
    });
    return { msg: MSG.recharged, code: 200 };
  }

  private deduct(q: Record<string, string>): Envelope {
    const { customerId = '', trafficCount = '' } = q;
    if (!DIGITS.test(customerId) || !DECIMAL.test(trafficCount)) {
      return { msg: MSG.badParams, code: 500 };
    }
    const customer = this.customers.get(customerId);
    if (!customer?.inChannel) return { msg: MSG.notChannelCustomer, code: 500 };
    const gb = new Decimal(trafficCount);
    const moved = gbToMb(gb);
    if (gb.lte(0)) return { msg: MSG.badParams, code: 500 };
    if (customer.balanceMb.lt(moved)) return { msg: MSG.insufficientCustomer, code: 500 };
    const pool = this.pools.primary;
    customer.balanceMb = customer.balanceMb.minus(moved);
    pool.residualMb = pool.residualMb.plus(moved);
    pool.consumedMb = pool.consumedMb.minus(moved);
    const createTime = this.nowText();
    this.deductionList.push({
      customerId,
      trafficGb: gb.toFixed(),
      flowMb: moved.toFixed(),
      createTime,
    });
    this.records.push({
      customerId,
      account: customer.account,
      flowMb: moved.negated(),
      type: 1,
      ...OPERATOR,
      createTime,
    });
    return { msg: MSG.deducted, code: 200 };
  }
}

function emptyPool(): Pool {
  return { rechargedMb: new Decimal(0), consumedMb: new Decimal(0), residualMb: new Decimal(0) };
}

function customerView(c: Customer): CustomerView {
  return {
    customerId: c.customerId,
    account: c.account,
    userName: c.userName,
    inChannel: c.inChannel,
    balanceMb: c.balanceMb.toFixed(),
  };
}
