import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { CfnSecret } from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../functions/commons/config/schema.ts';
import type { SecretName } from '../../functions/commons/secrets.ts';
import { TABLE_DEFINITION } from '../../functions/commons/store/table.ts';
import type { FunctionName } from '../../infra/bundling.ts';
import type { FlowPilotFunction } from '../../infra/constructs/function.ts';
import { buildApp } from '../../infra/main.ts';
import { METRIC_NAMES } from '../../infra/metrics.ts';
import type { FlowPilotStack } from '../../infra/stack.ts';
import { TABLE_ACCESS } from '../../infra/table-access.ts';

// One synthesis (with real esbuild bundling of the six functions) shared by every test.
const CONFIG: ConfigInput = {
  schedules: { pollTotals: 'rate(10 minutes)', reconcile: 'cron(0 3 * * ? *)' },
  payments: { providers: ['stripe', 'epay'], stripe: { livemode: false }, epay: { pid: '1001' } },
  notifications: {
    emails: ['ops@example.com', 'owner@example.com'],
    phoneNumbers: ['+15551234567'],
  },
};

let app: App;
let stack: FlowPilotStack;
let template: Template;
let assemblyDir: string;

beforeAll(() => {
  app = new App({ context: { flowpilot: CONFIG } });
  ({ stack } = buildApp({ app, env: {} }));
  template = Template.fromStack(stack);
  assemblyDir = app.synth().directory;
}, 240_000);

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as CfnFunction);

const functions = (): Record<FunctionName, FlowPilotFunction> => ({
  'poll-totals': stack.jobs.pollTotals.function,
  'poll-usage': stack.jobs.pollUsage.function,
  'poll-customers': stack.jobs.pollCustomers.function,
  'customer-actions': stack.customerActions.function,
  reconcile: stack.jobs.reconcile.function,
  'payment-webhook': stack.webhook.function,
  portal: stack.portal.function,
});

function functionProps(fn: FlowPilotFunction): Record<string, unknown> {
  return template.toJSON().Resources[logicalId(fn)].Properties;
}

/** Every statement attached to the function's execution role (inline and managed). */
function roleStatements(fn: FlowPilotFunction): Statement[] {
  const roleId = stack.getLogicalId(fn.executionRole.node.defaultChild as CfnFunction);
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties: Record<string, unknown> }
  >;
  return Object.values(resources)
    .filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
    )
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (statements: Statement[]) =>
  new Set(statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])));

const secretRef = (name: SecretName) => ({
  Ref: stack.getLogicalId(stack.secrets.byName[name].node.defaultChild as CfnSecret),
});

describe('FlowPilotStack', () => {
  describe('functions', () => {
    it('runs all seven on nodejs22.x arm64 with tracing, source maps and their own log group', () => {
      // Assess
      template.resourceCountIs('AWS::Lambda::Function', 7);
      for (const fn of Object.values(functions())) {
        const props = functionProps(fn);
        expect(props).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
          TracingConfig: { Mode: 'Active' },
          LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
        });
        const variables = (props.Environment as { Variables: Record<string, unknown> }).Variables;
        expect(variables.NODE_OPTIONS).toBe('--enable-source-maps');
        expect(variables.TABLE_NAME).toEqual({ Ref: logicalId(stack.data.table) });
        // poll-usage and the customer page raise no alert: no topic, no SNS client.
        expect(variables.SNS_TOPIC_ARN).toEqual(
          fn === stack.jobs.pollUsage.function || fn === stack.portal.function
            ? undefined
            : { Ref: logicalId(stack.notifications.alertsTopic) },
        );
        expect(JSON.parse(variables.FLOWPILOT_CONFIG_JSON as string)).toMatchObject({
          schedules: { pollTotals: 'rate(10 minutes)' },
          notifications: { phoneNumbers: ['+15551234567'] },
        });
      }
    });

    it('keeps logs a year (logs.retentionDays) and does not delete them with the stack', () => {
      template.resourceCountIs('AWS::Logs::LogGroup', 8);
      template.allResources('AWS::Logs::LogGroup', {
        Properties: { RetentionInDays: 365, KmsKeyId: Match.anyValue() },
        DeletionPolicy: 'Retain',
      });
    });

    it('gives each function its timeout and memory, and the scheduled ones and customer-actions concurrency 1', () => {
      const {
        'poll-totals': totals,
        'poll-usage': usage,
        reconcile,
        'payment-webhook': webhook,
        'customer-actions': actions,
      } = functions();
      expect(functionProps(actions)).toMatchObject({
        Timeout: 300,
        MemorySize: 512,
        ReservedConcurrentExecutions: 1,
      });
      expect(functionProps(totals)).toMatchObject({
        Timeout: 90,
        MemorySize: 256,
        ReservedConcurrentExecutions: 1,
      });
      expect(functionProps(usage)).toMatchObject({
        Timeout: 300,
        MemorySize: 512,
        ReservedConcurrentExecutions: 1,
      });
      expect(functionProps(reconcile)).toMatchObject({
        Timeout: 300,
        ReservedConcurrentExecutions: 1,
      });
      expect(functionProps(webhook)).toMatchObject({ Timeout: 25, MemorySize: 512 });
      expect(functionProps(webhook)).not.toHaveProperty('ReservedConcurrentExecutions');
    });

    it('bundles pure ESM (no CommonJS require left to shim), credentials from the environment, a linked source map', () => {
      for (const fn of Object.values(functions())) {
        const code = functionProps(fn).Code as { S3Key: string };
        const dir = join(assemblyDir, `asset.${code.S3Key.replace(/\.zip$/, '')}`);
        const bundle = readFileSync(join(dir, 'index.mjs'), 'utf8');
        // esbuild's shim for a bundled CommonJS `require`, which would throw in ESM at run time.
        expect(bundle).not.toContain('Dynamic require of');
        // The stack's --alias took: the environment-only credentials, not the SDK's chain.
        expect(bundle).toContain('read AWS credentials from the environment only');
        expect(bundle).not.toContain('Multiple credential sources detected');
        expect(bundle.slice(-80)).toMatch(/sourceMappingURL=index\.mjs\.map\s*$/);
        expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
      }
    });
  });

  describe('schedules', () => {
    it('runs each scheduled function on the configured expression', () => {
      const expected = {
        'poll-totals': 'rate(10 minutes)',
        'poll-usage': 'rate(1 hour)',
        'poll-customers': 'rate(15 minutes)',
        reconcile: 'cron(0 3 * * ? *)',
      };
      template.resourceCountIs('AWS::Events::Rule', 4);
      for (const [name, schedule] of Object.entries(expected)) {
        const fn = functions()[name as FunctionName];
        template.hasResourceProperties('AWS::Events::Rule', {
          ScheduleExpression: schedule,
          Targets: [
            Match.objectLike({
              Arn: { 'Fn::GetAtt': [logicalId(fn), 'Arn'] },
              RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: Match.anyValue() },
              DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } },
            }),
          ],
        });
      }
    });

    it('retries failed runs twice and sends what still fails to its dead-letter queue', () => {
      template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 5);
      for (const job of [...Object.values(stack.jobs), stack.customerActions]) {
        template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
          FunctionName: { Ref: logicalId(job.function) },
          MaximumRetryAttempts: 2,
          DestinationConfig: {
            OnFailure: {
              Destination: { 'Fn::GetAtt': [logicalId(job.deadLetterQueue), 'Arn'] },
            },
          },
        });
      }
      // A queued poll is worth running only until the next one: 10 minutes for poll-totals.
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: logicalId(stack.jobs.pollTotals.function) },
        MaximumEventAgeInSeconds: 600,
      });
    });

    it('encrypts the dead-letter queues and refuses them over plain HTTP', () => {
      template.resourceCountIs('AWS::SQS::Queue', 5);
      template.allResourcesProperties('AWS::SQS::Queue', {
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 1_209_600,
      });
      template.allResourcesProperties('AWS::SQS::QueuePolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });
  });

  describe('table', () => {
    it('is built from the shared definition with PITR, deletion protection, TTL and SSE', () => {
      const { partitionKey, sortKey, gsi1, ttlAttribute } = TABLE_DEFINITION;
      template.resourceCountIs('AWS::DynamoDB::Table', 1);
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          BillingMode: 'PAY_PER_REQUEST',
          KeySchema: [
            { AttributeName: partitionKey, KeyType: 'HASH' },
            { AttributeName: sortKey, KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: [
            {
              IndexName: gsi1.indexName,
              KeySchema: [
                { AttributeName: gsi1.partitionKey, KeyType: 'HASH' },
                { AttributeName: gsi1.sortKey, KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
          TimeToLiveSpecification: { AttributeName: ttlAttribute, Enabled: true },
          SSESpecification: { SSEEnabled: true },
        },
      });
    });
  });

  describe('notifications', () => {
    it('encrypts the three topics with a rotated key and refuses publishing without TLS', () => {
      const keyId = logicalId(stack.notifications.key);
      // alerts, ops, and the internal balance changes (customer-actions' own test).
      template.resourceCountIs('AWS::SNS::Topic', 3);
      template.allResourcesProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
      });
      template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
      template.allResourcesProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sns:Publish',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });

    it('lets CloudWatch alarms publish to the encrypted ops topic', () => {
      template.hasResourceProperties('AWS::KMS::Key', {
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            }),
          ]),
        },
      });
      template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: logicalId(stack.notifications.opsTopic) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: 'sns:Publish',
            }),
          ]),
        },
      });
    });

    it('subscribes emails to everything and phones to critical alerts only', () => {
      const alerts = { Ref: logicalId(stack.notifications.alertsTopic) };
      const ops = { Ref: logicalId(stack.notifications.opsTopic) };
      // … plus customer-actions on the balance-changes topic.
      template.resourceCountIs('AWS::SNS::Subscription', 6);
      for (const email of ['ops@example.com', 'owner@example.com']) {
        for (const topic of [alerts, ops]) {
          template.hasResourceProperties('AWS::SNS::Subscription', {
            Protocol: 'email',
            Endpoint: email,
            TopicArn: topic,
            FilterPolicy: Match.absent(),
          });
        }
      }
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'sms',
        Endpoint: '+15551234567',
        TopicArn: alerts,
        FilterPolicy: { severity: ['critical'] },
      });
    });
  });

  describe('customer actions', () => {
    it('feeds customer-actions from poll-customers through an encrypted topic, with a redrive queue', () => {
      const topic = { Ref: logicalId(stack.customerActions.topic) };
      const actions = logicalId(stack.customerActions.function);
      template.hasResourceProperties('AWS::SNS::Topic', {
        DisplayName: 'FlowPilot balance changes (internal)',
        KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(stack.notifications.key), 'Arn'] },
      });
      const subscriptions = template.findResources('AWS::SNS::Subscription', {
        Properties: { TopicArn: topic },
      });
      // One subscriber, the function; what SNS cannot deliver goes to its dead-letter queue.
      expect(Object.values(subscriptions).map((r) => r.Properties)).toEqual([
        {
          Protocol: 'lambda',
          TopicArn: topic,
          Endpoint: { 'Fn::GetAtt': [actions, 'Arn'] },
          RedrivePolicy: {
            deadLetterTargetArn: {
              'Fn::GetAtt': [logicalId(stack.customerActions.deadLetterQueue), 'Arn'],
            },
          },
        },
      ]);
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [actions, 'Arn'] },
        Principal: 'sns.amazonaws.com',
        SourceArn: topic,
      });
      const env = (fn: FlowPilotFunction) =>
        (functionProps(fn).Environment as { Variables: Record<string, unknown> }).Variables;
      const { 'poll-customers': poll, 'customer-actions': customerActions } = functions();
      expect(env(poll).BALANCE_CHANGES_TOPIC_ARN).toEqual(topic);
      expect(env(customerActions).BALANCE_CHANGES_TOPIC_ARN).toBeUndefined();
      // The notices are sent from customer-actions now, so only it is told to send for real.
      expect(env(customerActions).CUSTOMER_NOTICES_DELIVERY).toBe('aws');
      expect(env(poll).CUSTOMER_NOTICES_DELIVERY).toBeUndefined();
    });
  });

  describe('webhook API', () => {
    it('routes POST /webhooks/{provider} and GET /webhooks/epay to payment-webhook (payload v2)', () => {
      // Prepare
      const routes = template.findResources('AWS::ApiGatewayV2::Route');
      const integrations = template.findResources('AWS::ApiGatewayV2::Integration');

      // Assess: two webhook routes, GET only for epay, as 彩虹易支付 notifies; the customer
      // page's three on the same API, with an integration of its own.
      expect(
        Object.values(routes)
          .map((r) => r.Properties.RouteKey)
          .sort(),
      ).toEqual([
        'GET /portal',
        'GET /portal/{proxy+}',
        'GET /webhooks/epay',
        'POST /portal/{proxy+}',
        'POST /webhooks/{provider}',
      ]);
      expect(Object.keys(integrations)).toHaveLength(2);
      template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [logicalId(stack.webhook.function), 'Arn'] },
        TimeoutInMillis: 29_000,
      });
      // The function gives up before API Gateway does, so the provider gets its answer.
      expect(functionProps(stack.webhook.function).Timeout).toBeLessThan(29);
    });

    it('throttles the stage and writes JSON access logs', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 400 },
        AccessLogSettings: {
          DestinationArn: { 'Fn::GetAtt': [logicalId(stack.webhook.accessLogs), 'Arn'] },
          Format: Match.stringLikeRegexp('"status":"\\$context.status"'),
        },
      });
    });

    it('outputs the webhook base URL', () => {
      template.hasOutput('WebhookBaseUrl', {
        Value: {
          'Fn::Join': ['', Match.arrayWith([{ Ref: logicalId(stack.webhook.api) }, '/webhooks'])],
        },
      });
    });
  });

  describe('secrets', () => {
    it('creates the eight secrets under the stack name with a placeholder value', () => {
      template.resourceCountIs('AWS::SecretsManager::Secret', 8);
      for (const name of [
        'IPWEB_TOKEN',
        'STRIPE_WEBHOOK_SECRET',
        'STANDARD_WEBHOOK_SECRET',
        'EPAY_KEY',
        'STRIPE_API_KEY',
        'STRIPE_READ_KEY',
        'STRIPE_CHECKOUT_KEY',
        'PORTAL_SECRET',
      ]) {
        template.hasResourceProperties('AWS::SecretsManager::Secret', {
          Name: `FlowPilot/${name}`,
          GenerateSecretString: {},
          SecretString: Match.absent(),
        });
      }
    });
  });

  describe('observability', () => {
    const alarmsWith = (props: Record<string, unknown>) =>
      Object.keys(template.findResources('AWS::CloudWatch::Alarm', { Properties: props }));

    it('alarms on errors and throttles of every function, to the ops topic', () => {
      const ops = { Ref: logicalId(stack.notifications.opsTopic) };
      // 26 here (the portal's errors and throttles included), plus the customer notices' two
      // (failed notices, SMS spend).
      template.resourceCountIs('AWS::CloudWatch::Alarm', 26 + stack.customerNotices.alarms.length);
      template.allResourcesProperties('AWS::CloudWatch::Alarm', {
        AlarmActions: [ops],
        OKActions: [ops],
      });
      for (const fn of Object.values(functions())) {
        for (const metric of ['Errors', 'Throttles']) {
          expect(
            alarmsWith({
              Namespace: 'AWS/Lambda',
              MetricName: metric,
              Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(fn) } }],
              Threshold: 1,
              ComparisonOperator: 'GreaterThanOrEqualToThreshold',
            }),
          ).toHaveLength(1);
        }
      }
    });

    it('alarms when a scheduled function has not run over two of its intervals', () => {
      const periods = { pollTotals: 1200, pollUsage: 7200, pollCustomers: 1800, reconcile: 86_400 };
      for (const [key, period] of Object.entries(periods)) {
        const job = stack.jobs[key as keyof typeof periods];
        expect(
          alarmsWith({
            MetricName: 'Invocations',
            Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(job.function) } }],
            Period: period,
            Statistic: 'Sum',
            Threshold: 1,
            ComparisonOperator: 'LessThanThreshold',
            TreatMissingData: 'breaching',
          }),
        ).toHaveLength(1);
      }
    });

    it('alarms on webhook 5xx and on any message in a dead-letter queue', () => {
      expect(
        alarmsWith({
          Namespace: 'AWS/ApiGateway',
          MetricName: '5xx',
          Dimensions: [{ Name: 'ApiId', Value: { Ref: logicalId(stack.webhook.api) } }],
        }),
      ).toHaveLength(1);
      for (const job of [...Object.values(stack.jobs), stack.customerActions]) {
        expect(
          alarmsWith({
            Namespace: 'AWS/SQS',
            MetricName: 'ApproximateNumberOfMessagesVisible',
            Dimensions: [
              {
                Name: 'QueueName',
                Value: { 'Fn::GetAtt': [logicalId(job.deadLetterQueue), 'QueueName'] },
              },
            ],
            Threshold: 1,
          }),
        ).toHaveLength(1);
      }
    });

    it('alarms when an enabled payment provider refuses deliveries for want of a usable key', () => {
      const [alarm, ...others] = Object.values(
        template.findResources('AWS::CloudWatch::Alarm', {
          Properties: { AlarmDescription: Match.stringLikeRegexp('no usable key') },
        }),
      );
      expect(others).toEqual([]);
      const metrics = alarm?.Properties.Metrics as {
        Id: string;
        Expression?: string;
        MetricStat?: { Metric: { MetricName: string; Dimensions: unknown[] }; Stat: string };
      }[];
      // One series per provider the configuration turns on, summed.
      expect(metrics.find((m) => m.Expression)?.Expression).toBe('stripe + epay');
      for (const provider of ['stripe', 'epay']) {
        expect(metrics.find((m) => m.Id === provider)?.MetricStat).toMatchObject({
          Metric: {
            MetricName: METRIC_NAMES.webhookProviderDisabled,
            Namespace: 'FlowPilot',
            Dimensions: expect.arrayContaining([{ Name: 'Provider', Value: provider }]),
          },
          Stat: 'Sum',
        });
      }
      expect(alarm?.Properties).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('alarms when a balance listener throws: the hand-off, the customer notices, auto top-up', () => {
      const [alarm, ...others] = Object.values(
        template.findResources('AWS::CloudWatch::Alarm', {
          Properties: { AlarmDescription: Match.stringLikeRegexp('not handed on') },
        }),
      );
      expect(others).toEqual([]);
      const metrics = alarm?.Properties.Metrics as {
        Expression?: string;
        MetricStat?: {
          Metric: { MetricName: string; Dimensions: { Name: string; Value: string }[] };
        };
      }[];
      const listeners = metrics.flatMap((m) =>
        (m.MetricStat?.Metric.Dimensions ?? [])
          .filter((d) => d.Name === 'Listener')
          .map((d) => d.Value),
      );
      expect(listeners.sort()).toEqual(['auto-top-up', 'customer-actions', 'customer-notices']);
      expect(
        metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat?.Metric.MetricName),
      ).toEqual(Array(3).fill(METRIC_NAMES.balanceListenerFailed));
      expect(metrics.find((m) => m.Expression)?.Expression?.split(' + ')).toHaveLength(3);
    });

    it('graphs residual per pool, daily consumption and top-up outcomes', () => {
      template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
      const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
      const body = JSON.stringify(
        Stack.of(stack).resolve(dashboard?.Properties.DashboardBody),
      ).replaceAll('\\', '');
      for (const metric of Object.values(METRIC_NAMES)) {
        expect(body).toContain(`Namespace="FlowPilot" MetricName="${metric}"`);
      }
      expect(body).toContain('Residual traffic per pool');
    });
  });

  describe('IAM', () => {
    // Which DynamoDB actions each role holds: infra-security.test.ts checks them against the code.
    const COMMON = [
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
      'sns:Publish',
      'kms:Decrypt',
      'kms:GenerateDataKey*',
      'secretsmanager:GetSecretValue',
      'secretsmanager:DescribeSecret',
    ];
    const DLQ = ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'];
    /** Publishing to the encrypted alerts topic, which poll-usage does not. */
    const ALERTS = ['sns:Publish', 'kms:Decrypt', 'kms:GenerateDataKey*'];

    it('grants each function exactly the actions it needs and no managed policy', () => {
      // The table actions come from infra/table-access.ts, which infra-security.test.ts checks
      // against each function's bundle.
      const table = (name: FunctionName) => [...TABLE_ACCESS[name]];
      const expected: Record<string, string[]> = {
        'poll-totals': [...table('poll-totals'), ...COMMON, ...DLQ],
        'poll-usage': [
          ...table('poll-usage'),
          ...COMMON.filter((a) => !ALERTS.includes(a)),
          ...DLQ,
        ],
        'poll-customers': [...table('poll-customers'), ...COMMON, ...DLQ],
        reconcile: [...table('reconcile'), ...COMMON, ...DLQ],
        'payment-webhook': [...table('payment-webhook'), ...COMMON],
        'customer-actions': [...table('customer-actions'), ...COMMON, ...DLQ],
        portal: [...table('portal'), ...COMMON.filter((a) => !ALERTS.includes(a))],
      };
      for (const [name, fn] of Object.entries(functions())) {
        expect([...actionsOf(roleStatements(fn))].sort()).toEqual(expected[name]?.sort());
        template.hasResourceProperties('AWS::IAM::Role', {
          Description: `Execution role of ${name}`,
          ManagedPolicyArns: Match.absent(),
        });
      }
    });

    it('never grants table administration, scans or wildcard actions', () => {
      for (const fn of Object.values(functions())) {
        const actions = actionsOf(roleStatements(fn));
        for (const forbidden of [
          'dynamodb:DeleteTable',
          'dynamodb:UpdateTable',
          'dynamodb:Scan',
          'dynamodb:*',
          '*',
        ]) {
          expect(actions.has(forbidden)).toBe(false);
        }
        expect([...actions].filter((a) => a.endsWith(':*'))).toEqual([]);
      }
    });

    it('scopes item access to the table and its gsi1 index', () => {
      for (const fn of Object.values(functions())) {
        const table = roleStatements(fn).filter((s) => actionsOf([s]).has('dynamodb:Query'));
        expect(table).toHaveLength(1);
        const resources = JSON.stringify(table[0]?.Resource);
        expect(resources).toContain(logicalId(stack.data.table));
        expect(resources).toContain(`/index/${TABLE_DEFINITION.gsi1.indexName}`);
        expect(resources).not.toContain('index/*');
      }
    });

    it('lets every function but customer-actions and portal read the upstream token, only payment-webhook the webhook secrets, only portal the portal key', () => {
      const webhookSecrets: SecretName[] = [
        'STRIPE_WEBHOOK_SECRET',
        'STANDARD_WEBHOOK_SECRET',
        'EPAY_KEY',
      ];
      for (const [name, fn] of Object.entries(functions())) {
        const readable = roleStatements(fn)
          .filter((s) => actionsOf([s]).has('secretsmanager:GetSecretValue'))
          .map((s) => JSON.stringify(s.Resource));
        const variables = (functionProps(fn).Environment as { Variables: Record<string, unknown> })
          .Variables;
        // customer-actions reads the pools from the snapshots, the customer page the stored
        // balances: neither calls the upstream.
        const upstream = name !== 'customer-actions' && name !== 'portal';
        expect(readable.includes(JSON.stringify(secretRef('IPWEB_TOKEN')))).toBe(upstream);
        expect(variables.IPWEB_TOKEN_SECRET_ARN).toEqual(
          upstream ? secretRef('IPWEB_TOKEN') : undefined,
        );
        for (const secret of webhookSecrets) {
          const granted = readable.includes(JSON.stringify(secretRef(secret)));
          expect(granted).toBe(name === 'payment-webhook');
          expect(variables[`${secret}_SECRET_ARN`] !== undefined).toBe(name === 'payment-webhook');
        }
        // One Stripe key each: the charging one in customer-actions only, the read-only one
        // only in the webhook, the Checkout Sessions one only in the customer page.
        for (const [secret, holders] of [
          ['STRIPE_API_KEY', ['customer-actions']],
          ['STRIPE_READ_KEY', ['payment-webhook']],
          ['STRIPE_CHECKOUT_KEY', ['portal']],
          ['PORTAL_SECRET', ['customer-actions', 'portal']],
        ] as const) {
          const holds = (holders as readonly string[]).includes(name);
          expect(readable.includes(JSON.stringify(secretRef(secret)))).toBe(holds);
          expect(variables[`${secret}_SECRET_ARN`] !== undefined).toBe(holds);
        }
      }
    });

    it('limits publishing to the alerts topic (and poll-customers to the balance changes) and key use to the topic key', () => {
      for (const [name, fn] of Object.entries(functions())) {
        if (name === 'poll-usage' || name === 'portal') continue;
        const statements = roleStatements(fn);
        // The customer notices' SMS statement names no resource (see its own test).
        const publish = statements.filter(
          (s) => actionsOf([s]).has('sns:Publish') && s.Resource !== undefined,
        );
        expect(publish.map((s) => s.Resource)).toEqual(
          expect.arrayContaining([{ Ref: logicalId(stack.notifications.alertsTopic) }]),
        );
        expect(publish.map((s) => s.Resource)).toHaveLength(name === 'poll-customers' ? 2 : 1);
        if (name === 'poll-customers') {
          expect(publish.map((s) => s.Resource)).toContainEqual({
            Ref: logicalId(stack.customerActions.topic),
          });
        }
        const kms = statements.filter((s) => actionsOf([s]).has('kms:Decrypt'));
        expect(kms.map((s) => s.Resource)).toEqual([
          { 'Fn::GetAtt': [logicalId(stack.notifications.key), 'Arn'] },
        ]);
      }
    });
  });

  describe('cdk-nag', () => {
    it('has no unacknowledged AwsSolutions finding', () => {
      const report = new AwsSolutionsChecks().validateScope(app);
      expect(
        report.violations.map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`),
      ).toEqual([]);
    });
  });
});
