import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AlertEventSink } from '../../functions/commons/alerts/events.ts';
import { SilenceStore } from '../../functions/commons/alerts/store/alert-silences.ts';
import { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import { AutoTopupStore } from '../../functions/commons/autotopup/store/autotopup.ts';
import type { Config } from '../../functions/commons/config/schema.ts';
import { CustomerContactStore } from '../../functions/commons/customer-notices/store/customer-contacts.ts';
import { NoticeOutboxStore } from '../../functions/commons/customer-notices/store/notice-outbox.ts';
import { CustomerBalanceStore } from '../../functions/commons/customers/store/customer-balances.ts';
import { CustomerRecordStore } from '../../functions/commons/customers/store/customer-records.ts';
import { ConsoleNotifier, createNotifier } from '../../functions/commons/notifier/index.ts';
import type { OpsEventSink } from '../../functions/commons/ops-events.ts';
import { DynamoLedger } from '../../functions/commons/payments/ledger/ledger.ts';
import { LedgerReader } from '../../functions/commons/payments/ledger/ledger-read.ts';
import { PollStateStore } from '../../functions/commons/pollers/store/poll-state.ts';
import { SeriesStore } from '../../functions/commons/pollers/store/series.ts';
import { SnapshotStore } from '../../functions/commons/pollers/store/snapshots.ts';
import { UsageStore } from '../../functions/commons/pollers/store/usage.ts';
import { PortalStore } from '../../functions/commons/portal/store.ts';
import { ReportStore } from '../../functions/commons/reconcile/report-store.ts';
import { createDynamicTrafficClient } from '../../functions/commons/upstream/client.ts';
import type { DynamicTrafficApi } from '../../functions/commons/upstream/types.ts';
import type { StatusDeps } from '../status/overview.ts';
import { CliError } from './errors.ts';

/** Where text goes; tests hand in buffers. */
export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Everything a command works with, built once per run. */
export interface CommandContext {
  io: CliIo;
  /** `--json` was given: stdout carries one JSON document, nothing else. */
  json: boolean;
  config: Config;
  clock: () => Date;
  /** For people: where the CLI is working. */
  where: string;
  stores: StatusDeps & {
    alerts: AlertStateStore;
    silences: SilenceStore;
    usage: UsageStore;
    ledger: DynamoLedger;
    ledgerRead: LedgerReader;
    reports: ReportStore;
    balances: CustomerBalanceStore;
    records: CustomerRecordStore;
    contacts: CustomerContactStore;
    outbox: NoticeOutboxStore;
    autoTopup: AutoTopupStore;
    portal: PortalStore;
  };
  /** Ops events raised by replay and reconcile. */
  sink: OpsEventSink;
  /** The upstream client; throws a CliError naming what to set when none is configured. */
  upstream(): DynamicTrafficApi;
}

export interface ContextInput {
  io: CliIo;
  json: boolean;
  config: Config;
  doc: DynamoDBDocumentClient;
  tableName: string;
  where: string;
  /** A ready client, or where to reach the upstream; undefined: none configured. */
  upstream: DynamicTrafficApi | { baseUrl: string; token: string } | undefined;
  clock?: () => Date;
  sink?: OpsEventSink;
}

function isClient(
  value: DynamicTrafficApi | { baseUrl: string; token: string },
): value is DynamicTrafficApi {
  return typeof (value as DynamicTrafficApi).flowReport === 'function';
}

/**
 * Builds the stores over one table. Alerts go through the alerting state (so `status` shows
 * them and repeats stay quiet), published to SNS when `SNS_TOPIC_ARN` is set, else printed
 * on stderr so that `--json` output stays clean.
 */
export function createContext(input: ContextInput): CommandContext {
  const { doc, tableName, config, io } = input;
  const clock = input.clock ?? (() => new Date());
  const { retentionDays } = config.polling;
  const alertState = new AlertStateStore({ tableName, client: doc });
  const silences = new SilenceStore(doc, tableName);
  const topicArn = io.env.SNS_TOPIC_ARN || undefined;
  const notifier = topicArn
    ? createNotifier({ topicArn })
    : new ConsoleNotifier((text) => io.stderr.write(text));
  let client: DynamicTrafficApi | undefined;
  return {
    io,
    json: input.json,
    config,
    clock,
    where: input.where,
    stores: {
      snapshots: new SnapshotStore(doc, tableName, { retentionDays }),
      series: new SeriesStore(doc, tableName, { retentionDays }),
      pollState: new PollStateStore(doc, tableName),
      alerts: alertState,
      silences,
      usage: new UsageStore(doc, tableName, { retentionDays }),
      ledger: new DynamoLedger(doc, tableName),
      ledgerRead: new LedgerReader(doc, tableName),
      reports: new ReportStore(doc, tableName, retentionDays),
      balances: new CustomerBalanceStore(doc, tableName),
      records: new CustomerRecordStore(doc, tableName),
      contacts: new CustomerContactStore(doc, tableName),
      outbox: new NoticeOutboxStore(doc, tableName),
      autoTopup: new AutoTopupStore(doc, tableName),
      portal: new PortalStore(doc, tableName),
      timeZone: config.upstream.timeZone,
      clock,
    },
    sink:
      input.sink ??
      new AlertEventSink({
        state: alertState,
        notifier,
        clock,
        reminderMs: config.alerts.reminderMinutes * 60_000,
        silences,
        maintenance: config.alerts.maintenance,
      }),
    upstream() {
      const target = input.upstream;
      if (!target) {
        throw new CliError(
          'this command needs the upstream: set IPWEB_TOKEN (and IPWEB_BASE_URL, or ' +
            'upstream.baseUrl in the configuration), or run it while npm start is running',
        );
      }
      if (isClient(target)) return target;
      const { timeoutMs, retry } = config.upstream;
      client ??= createDynamicTrafficClient({ ...target, timeoutMs, retry });
      return client;
    },
  };
}
