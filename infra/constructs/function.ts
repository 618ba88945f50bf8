import { join } from 'node:path';
import { type Duration, RemovalPolicy, Stack, Tags, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  LogLevel,
  NodejsFunction,
  OutputFormat,
  SourceMapMode,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { SecretName } from '../../functions/commons/secrets.ts';
import { TABLE_DEFINITION, TABLE_NAME_ENV } from '../../functions/commons/store/table.ts';
import {
  BUNDLE_ALIASES,
  BUNDLE_AWS_SDK,
  BUNDLE_CONDITIONS,
  bundleDefine,
  FUNCTION_ENTRIES,
  type FunctionName,
  NODE_TARGET,
  PROJECT_ROOT,
} from '../bundling.ts';
import { SERVICE_NAME } from '../metrics.ts';

/** Tag naming the entry point on each function (its name here, in logs and in alarms). */
export const FUNCTION_NAME_TAG = 'flowpilot:function';

/** Environment variable through which functions find the alerts topic. */
export const SNS_TOPIC_ARN_ENV = 'SNS_TOPIC_ARN';

/**
 * The item actions a function may be granted. Never the table itself (no Scan, no
 * DescribeTable, no table administration): every access path is a key or index query, and
 * transactions are authorised through these item actions.
 */
export type TableAction =
  | 'dynamodb:GetItem'
  | 'dynamodb:BatchGetItem'
  | 'dynamodb:Query'
  | 'dynamodb:ConditionCheckItem'
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:DeleteItem'
  | 'dynamodb:BatchWriteItem';

export interface FlowPilotFunctionProps {
  /** Which entry point under functions/ this is; also its name in logs and alarms. */
  readonly name: FunctionName;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** @default - unreserved */
  readonly reservedConcurrentExecutions?: number;
  /** Variables beyond the ones every function gets (config, source maps, Powertools). */
  readonly environment?: Record<string, string>;
}

/**
 * A FlowPilot Lambda with the defaults fixed once: nodejs22.x on arm64, minified ESM with
 * source maps, X-Ray tracing, its own log group with retention, its own role holding nothing
 * until `bind*` grants it. The `bind*` helpers set the environment variable and the
 * least-privilege grant together, so neither is forgotten.
 */
export class FlowPilotFunction extends NodejsFunction {
  readonly functionLabel: FunctionName;
  readonly executionRole: iam.Role;

  constructor(scope: Construct, id: string, props: FlowPilotFunctionProps) {
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.name}`,
    });
    // Retention (`logs.retentionDays`) and KMS encryption come from the stack's LogEncryption.
    const logGroup = new LogGroup(scope, `${id}Logs`, { removalPolicy: RemovalPolicy.RETAIN });
    super(scope, id, {
      entry: join(PROJECT_ROOT, FUNCTION_ENTRIES[props.name]),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: Tracing.ACTIVE,
      role,
      logGroup,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: NODE_TARGET,
        minify: true,
        // No keepNames (it costs ~25 KB per bundle): error classes name themselves with a
        // literal, which test/unit/error-names.test.ts checks.
        sourceMap: true,
        // Linked: a separate .map plus the comment Node needs to find it (EXTERNAL omits it).
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        bundleAwsSDK: BUNDLE_AWS_SDK,
        define: bundleDefine(),
        esbuildArgs: {
          '--conditions': BUNDLE_CONDITIONS.join(','),
          '--alias': Object.entries(BUNDLE_ALIASES).map(([from, to]) => `${from}=${to}`),
        },
        // Warnings and errors only: synth output stays about what needs attention.
        logLevel: LogLevel.WARNING,
        tsconfig: join(PROJECT_ROOT, 'tsconfig.json'),
      },
    });
    this.functionLabel = props.name;
    this.executionRole = role;
    Tags.of(this).add(FUNCTION_NAME_TAG, props.name);
    logGroup.grantWrite(role);
    // Tracing.ACTIVE grants xray:PutTraceSegments and PutTelemetryRecords on `*`.
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Only the X-Ray actions, which do not support resource-level permissions.',
    });
    Validations.of(this).acknowledge({
      id: 'cdk-validator-cfnguard::lambda_inside_vpc_check',
      reason:
        'CT.LAMBDA.PR.3: FlowPilot reaches only public endpoints (the upstream API, AWS services); there is nothing private to put it next to, and the NAT gateway a VPC would need costs more than the whole stack.',
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x, the runtime this code is built and tested for (esbuild target node22); a runtime upgrade is a deliberate change, not a drift.',
    });
  }

  /** Names the table in TABLE_NAME and grants these item actions, on the table and its indexes only. */
  bindTable(table: ITable, actions: readonly TableAction[]): this {
    this.addEnvironment(TABLE_NAME_ENV, table.tableName);
    this.executionRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [...actions],
        resources: [
          table.tableArn,
          ...[TABLE_DEFINITION.gsi1, TABLE_DEFINITION.gsi2].map((index) =>
            Stack.of(this).formatArn({
              service: 'dynamodb',
              resource: 'table',
              resourceName: `${table.tableName}/index/${index.indexName}`,
            }),
          ),
        ],
      }),
    );
    return this;
  }

  /** Sets `<NAME>_SECRET_ARN` (read by functions/commons/secrets.ts) and grants reading it. */
  bindSecret(name: SecretName, secret: ISecret): this {
    this.addEnvironment(`${name}_SECRET_ARN`, secret.secretArn);
    secret.grantRead(this.executionRole);
    return this;
  }

  /** Sets SNS_TOPIC_ARN and grants publishing (with the topic key, when encrypted). */
  bindAlertsTopic(topic: ITopic): this {
    this.addEnvironment(SNS_TOPIC_ARN_ENV, topic.topicArn);
    topic.grantPublish(this.executionRole);
    Validations.of(this.executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason:
        'Publishing to a KMS-encrypted topic needs GenerateDataKey*; the grant is limited to the topic key.',
    });
    return this;
  }
}
