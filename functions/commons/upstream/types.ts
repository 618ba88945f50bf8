import type { Decimal } from 'decimal.js';

/**
 * FlowPilot's view of the Dynamic Traffic API: every figure a Decimal (MB unless named GB),
 * every customer id a string of digits, every message kept as the upstream sent it.
 */

export interface PoolTotals {
  /** Recharged traffic, MB (`flowCount`). */
  rechargedMb: Decimal;
  /** Consumed traffic, MB (`consumeFlow`). */
  consumedMb: Decimal;
  /** Residual traffic, MB (`residualFlow`, or its trailing-space twin). */
  residualMb: Decimal;
}

export type PoolId = 'primary' | 'secondary';

export type FlowTotals = Record<PoolId, PoolTotals>;

export interface UsageRow {
  reportDate: string;
  customerId: string;
  userName: string;
  uploadMb: Decimal;
  downloadMb: Decimal;
}

export interface ConsumeDay {
  date: string;
  uploadMb: Decimal;
  downloadMb: Decimal;
}

export interface NniDay {
  date: string;
  flowMb: Decimal;
}

export interface RechargeRecord {
  customerId: string;
  account: string;
  /** MB; negative for consumption (type=1). */
  flowMb: Decimal;
  typeDesc: string;
  createId: string;
  createBy: string;
  /** As sent: `yyyy-MM-dd HH:mm:ss`, no zone (the upstream's calendar). */
  createTime: string;
}

export interface Page<T> {
  total: number;
  rows: T[];
}

export interface DateRange {
  startDate?: string;
  endDate?: string;
}

export interface CallOptions {
  /** Aborts the call (and its retries), e.g. bound to the Lambda's remaining time. */
  signal?: AbortSignal;
}

export type RechargeOutcome =
  /** 200: the upstream applied it now. */
  | { status: 'applied'; code: number; message: string }
  /** 201 / 203: the upstream had already applied this orderId. */
  | { status: 'already-applied'; code: number; message: string };

export interface DynamicTrafficApi {
  getFlowTotalFull(opts?: CallOptions): Promise<FlowTotals>;
  flowReport(
    query: DateRange & { pageNum?: number; pageSize?: number; customerId?: string },
    opts?: CallOptions,
  ): Promise<Page<UsageRow>>;
  getFlowConsumeDetail(range: DateRange, opts?: CallOptions): Promise<ConsumeDay[]>;
  getNNIFlowConsumeDetail(range: DateRange, opts?: CallOptions): Promise<NniDay[]>;
  myRechargeFlowList(
    query: DateRange & { pageNum?: number; pageSize?: number; type?: 0 | 1; account?: string },
    opts?: CallOptions,
  ): Promise<Page<RechargeRecord>>;
  rechargeFlowListForMe(
    query: DateRange & { pageNum?: number; pageSize?: number; account?: string },
    opts?: CallOptions,
  ): Promise<Page<RechargeRecord>>;
  /** Idempotent upstream on orderId; throws NotChannelCustomerError (204) or UpstreamRejectedError. */
  rechargeTrafficCount(
    req: { customerId: string; orderId: string; trafficGb: Decimal },
    opts?: CallOptions,
  ): Promise<RechargeOutcome>;
  /** Never retried; a lost answer surfaces as UpstreamTransportError with `sent: true`. */
  deductionFlow(
    req: { customerId: string; trafficGb: Decimal },
    opts?: CallOptions,
  ): Promise<{ code: number; message: string }>;
}
