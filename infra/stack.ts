import { Aspects, CfnOutput, Duration, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { Config } from '../functions/commons/config/schema.ts';
import { ConfigError } from '../functions/commons/errors.ts';
import { configEnvironment } from './config-env.ts';
import { CustomerActions } from './constructs/customer-actions.ts';
import { CustomerNotices } from './constructs/customer-notices.ts';
import { DataStore } from './constructs/data.ts';
import type { FlowPilotFunction } from './constructs/function.ts';
import { LogEncryption } from './constructs/log-encryption.ts';
import { Notifications } from './constructs/notifications.ts';
import { Observability } from './constructs/observability.ts';
import { Portal } from './constructs/portal.ts';
import { ScheduledJob } from './constructs/scheduled-job.ts';
import { SECRET_NAMES, Secrets } from './constructs/secrets.ts';
import { SmsProtection } from './constructs/sms-protection.ts';
import { WebhookApi } from './constructs/webhook-api.ts';
import { assertDeployable, FUNCTION_TIMEOUT_SECONDS } from './limits.ts';
import { TABLE_ACCESS } from './table-access.ts';

/** Lambda allows 4 KB of environment in all; the ARNs and names take the rest. Counts the config JSON and its check (names included). */
const MAX_CONFIG_JSON_BYTES = 3072;

export interface FlowPilotStackProps extends StackProps {
  /** Validated configuration (infra/config.ts); handed to every function as JSON. */
  readonly config: Config;
}

/**
 * The whole system in one stack: data, secrets, notifications, the four scheduled jobs, the
 * customer actions they feed, the webhook API and their alarms and dashboard. Environment-agnostic (no account or region, no
 * lookups), so it synthesizes offline. Construct IDs are the contract with deployed
 * resources: renaming one replaces the resource.
 */
export class FlowPilotStack extends Stack {
  readonly data: DataStore;
  readonly secrets: Secrets;
  readonly notifications: Notifications;
  readonly jobs: {
    readonly pollTotals: ScheduledJob;
    readonly pollUsage: ScheduledJob;
    readonly pollCustomers: ScheduledJob;
    readonly reconcile: ScheduledJob;
  };
  readonly webhook: WebhookApi;
  readonly customerActions: CustomerActions;
  readonly observability: Observability;
  readonly customerNotices: CustomerNotices;
  /** Present when `notifications.smsProtectCountries` lists countries. */
  readonly smsProtection: SmsProtection | undefined;
  readonly portal: Portal;

  constructor(scope: Construct, id: string, props: FlowPilotStackProps) {
    super(scope, id, props);
    const { config } = props;
    assertDeployable(config);
    const environment = configEnvironment(config);
    const configBytes = Object.entries(environment).reduce(
      (n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v),
      0,
    );
    if (configBytes > MAX_CONFIG_JSON_BYTES) {
      throw new ConfigError(
        `configuration is ${configBytes} bytes as JSON; at most ${MAX_CONFIG_JSON_BYTES} fit in a Lambda environment (with its check)`,
      );
    }
    Tags.of(this).add('app', 'flowpilot');

    this.data = new DataStore(this, 'Data');
    Aspects.of(this).add(new LogEncryption(this, 'LogEncryption', { logs: config.logs }));
    this.secrets = new Secrets(this, 'Secrets');
    this.notifications = new Notifications(this, 'Notifications', {
      notifications: config.notifications,
    });

    this.jobs = {
      pollTotals: new ScheduledJob(this, 'PollTotals', {
        name: 'poll-totals',
        description: 'Reads the pool totals, keeps a snapshot and raises low-traffic alerts',
        schedule: config.schedules.pollTotals,
        timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS['poll-totals']),
        memorySize: 256,
        environment,
      }),
      pollUsage: new ScheduledJob(this, 'PollUsage', {
        name: 'poll-usage',
        description: 'Reads per-customer daily usage and consumption series incrementally',
        schedule: config.schedules.pollUsage,
        timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS['poll-usage']),
        memorySize: 512,
        environment,
      }),
      pollCustomers: new ScheduledJob(this, 'PollCustomers', {
        name: 'poll-customers',
        description: "Keeps every customer's traffic balance from records and stored usage",
        schedule: config.schedules.pollCustomers,
        timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS['poll-customers']),
        memorySize: 512,
        environment,
      }),
      reconcile: new ScheduledJob(this, 'Reconcile', {
        name: 'reconcile',
        description: "Compares the top-up ledger with the upstream's recharge records",
        schedule: config.schedules.reconcile,
        timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.reconcile),
        memorySize: 512,
        environment,
      }),
    };
    this.webhook = new WebhookApi(this, 'Webhook', { environment });
    // The notices and auto top-up that react to each balance poll, in a function of their own.
    this.customerActions = new CustomerActions(this, 'CustomerActions', {
      key: this.notifications.key,
      environment,
    }).grantPublish(this.jobs.pollCustomers.function);

    const { table } = this.data;
    const { byName } = this.secrets;
    const everyFunction: FlowPilotFunction[] = [
      this.jobs.pollTotals.function,
      this.jobs.pollUsage.function,
      this.jobs.pollCustomers.function,
      this.jobs.reconcile.function,
      this.webhook.function,
      this.customerActions.function,
    ];
    for (const fn of everyFunction) {
      fn.bindTable(table, TABLE_ACCESS[fn.functionLabel]);
      // poll-usage raises no alert (poll-totals judges its health): no topic, no SNS client.
      if (fn !== this.jobs.pollUsage.function) fn.bindAlertsTopic(this.notifications.alertsTopic);
      // customer-actions never calls the upstream: it reads pools from the stored snapshots.
      if (fn !== this.customerActions.function) fn.bindSecret('IPWEB_TOKEN', byName.IPWEB_TOKEN);
    }
    this.webhook.function
      .bindSecret('STRIPE_WEBHOOK_SECRET', byName.STRIPE_WEBHOOK_SECRET)
      .bindSecret('STANDARD_WEBHOOK_SECRET', byName.STANDARD_WEBHOOK_SECRET)
      .bindSecret('EPAY_KEY', byName.EPAY_KEY);
    // Auto top-up, one restricted Stripe key each: customer-actions charges saved cards
    // (PaymentIntents write); the internet-facing webhook only reads Checkout opt-ins.
    this.customerActions.function
      .bindSecret('STRIPE_API_KEY', byName.STRIPE_API_KEY)
      // Receipts to an address a payment brought carry a link that confirms it.
      .bindSecret('PORTAL_SECRET', byName.PORTAL_SECRET);
    this.webhook.function.bindSecret('STRIPE_READ_KEY', byName.STRIPE_READ_KEY);

    // The customer page, on the webhooks' API: its own role, reading one customer at a time.
    this.portal = new Portal(this, 'Portal', {
      api: this.webhook.api,
      stage: this.webhook.stage,
      environment,
    });
    this.portal.function
      .bindTable(table, TABLE_ACCESS.portal)
      .bindSecret('PORTAL_SECRET', byName.PORTAL_SECRET)
      // Buy creates Checkout Sessions, and can do nothing else in Stripe.
      .bindSecret('STRIPE_CHECKOUT_KEY', byName.STRIPE_CHECKOUT_KEY);
    // Every customer notice links to the page (customer-actions sends them).
    this.customerActions.function.addEnvironment('PORTAL_BASE_URL', this.portal.baseUrl);

    this.observability = new Observability(this, 'Observability', {
      opsTopic: this.notifications.opsTopic,
      jobs: [...Object.values(this.jobs), this.customerActions],
      webhook: this.webhook,
      functions: [this.portal.function],
      providers: config.payments.providers,
    });
    const allowCountries = config.notifications.smsProtectCountries;
    this.smsProtection = allowCountries.length
      ? new SmsProtection(this, 'SmsProtection', { allowCountries })
      : undefined;

    this.customerNotices = new CustomerNotices(this, 'CustomerNotices', {
      customers: config.customers,
      opsTopic: this.notifications.opsTopic,
    })
      .grantTo(this.customerActions.function)
      // The page mails a change-of-email link to the new address, and sends no SMS.
      .grantTo(this.portal.function, { sms: false });

    new CfnOutput(this, 'WebhookBaseUrl', {
      description: 'Point each payment provider at <this>/<provider>, e.g. .../webhooks/stripe',
      value: this.webhook.webhookBaseUrl,
    });
    new CfnOutput(this, 'PortalBaseUrl', {
      description: 'Where customer links point unless portal.baseUrl says otherwise',
      value: this.portal.baseUrl,
    });
    new CfnOutput(this, 'AlertsTopicArn', { value: this.notifications.alertsTopic.topicArn });
    new CfnOutput(this, 'OpsTopicArn', { value: this.notifications.opsTopic.topicArn });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'DashboardName', {
      value: this.observability.dashboard.dashboardName,
    });
    for (const name of SECRET_NAMES) {
      new CfnOutput(this, `Secret${name.replaceAll('_', '')}`, {
        description: `Secrets Manager name of ${name}; set it with put-secret-value`,
        value: this.secrets.secretNames[name],
      });
    }
  }
}
