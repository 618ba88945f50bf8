import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { FlowPilotError } from '../errors.ts';
import type { KeyPrefix } from '../store/values.ts';

export interface ReconciliationReport {
  id: string;
  ranAt: string;
  window: { from: string; to: string };
  counts: {
    ledger: number;
    upstream: number;
    matched: number;
    missingUpstream: number;
    amountDifferences: number;
    manualTopUps: number;
  };
  missingUpstream: { orderKey: string; customerId: string; gb: string; creditedAt: string }[];
  amountDifferences: {
    orderKey: string;
    customerId: string;
    ledgerMb: string;
    upstreamMb: string;
    upstreamTime: string;
  }[];
  manualTopUps: { customerId: string; account: string; mb: string; createTime: string }[];
  /** True when a difference that needs a person was found. */
  alerted: boolean;
}

export class ReportStoreError extends FlowPilotError {
  override name = 'ReportStoreError';
}

const PK = 'RECON';

export const KEY_PREFIXES = [{ pk: PK, sk: '' }] as const satisfies readonly KeyPrefix[];
// Reports are small; keep lists bounded so one item stays far under DynamoDB's 400 KB.
const MAX_LISTED = 200;

/** Reconciliation reports: pk `RECON`, sk the run's ISO time (newest last). */
export class ReportStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly retentionDays: number,
  ) {}

  async save(report: ReconciliationReport): Promise<void> {
    const item = {
      pk: PK,
      sk: report.id,
      ...report,
      missingUpstream: report.missingUpstream.slice(0, MAX_LISTED),
      amountDifferences: report.amountDifferences.slice(0, MAX_LISTED),
      manualTopUps: report.manualTopUps.slice(0, MAX_LISTED),
      expiresAt: Math.floor(Date.parse(report.ranAt) / 1000) + this.retentionDays * 86_400,
    };
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: item }));
    } catch (cause) {
      throw new ReportStoreError('could not save the reconciliation report', { cause });
    }
  }

  async latest(limit = 1): Promise<ReconciliationReport[]> {
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': PK },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      return (out.Items ?? []).map(strip);
    } catch (cause) {
      throw new ReportStoreError('could not read reconciliation reports', { cause });
    }
  }

  async get(id: string): Promise<ReconciliationReport | undefined> {
    try {
      const out = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: { pk: PK, sk: id } }),
      );
      return out.Item ? strip(out.Item) : undefined;
    } catch (cause) {
      throw new ReportStoreError('could not read the reconciliation report', { cause });
    }
  }
}

function strip(item: Record<string, unknown>): ReconciliationReport {
  const { pk: _pk, sk: _sk, expiresAt: _e, ...rest } = item;
  return rest as unknown as ReconciliationReport;
}
