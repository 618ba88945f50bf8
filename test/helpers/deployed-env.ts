import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, inject } from 'vitest';
import { createTestTable, type TestTable } from './dynamo.ts';
import type { SimulatorFixture } from './simulator.ts';

/** EventBridge's scheduled event, as a schedule hands it to a poller. */
export const scheduledEvent = {
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
} as ScheduledEvent;

/** A Lambda context with this request id and this much time left. */
export const lambdaContext = (awsRequestId: string, remainingMs = 60_000) =>
  ({ awsRequestId, getRemainingTimeInMillis: () => remainingMs }) as Context;

export interface DeployedEnv {
  /** The function's table (valid inside tests, after beforeAll). */
  readonly table: TestTable;
  /** Every SNSClient mocked, the handler's module-scope one included (with `topic` only). */
  readonly sns: AwsClientStub<SNSClient>;
}

/**
 * What the stack (or the local runtime) gives a deployed function, per test file: a fresh
 * table in DynamoDB Local, the simulator as the upstream (one attempt), `config` beside it, and
 * with `topic` the alert topic, its SNS mocked; the environment is restored in afterAll.
 */
export function useDeployedEnv(
  sim: SimulatorFixture,
  prefix: string,
  opts: { config?: Record<string, unknown>; topic?: string } = {},
): DeployedEnv {
  const saved = { ...process.env };
  const sns = opts.topic ? mockClient(SNSClient) : undefined;
  let table: TestTable | undefined;
  beforeAll(async () => {
    table = await createTestTable(prefix);
    process.env.TABLE_NAME = table.tableName;
    process.env.AWS_ENDPOINT_URL_DYNAMODB = inject('dynamoEndpoint');
    if (opts.topic) process.env.SNS_TOPIC_ARN = opts.topic;
    process.env.IPWEB_TOKEN = sim.sim.token;
    process.env.FLOWPILOT_CONFIG_JSON = JSON.stringify({
      upstream: { baseUrl: sim.sim.url, retry: { attempts: 1 } },
      ...opts.config,
    });
    sns?.on(PublishCommand).resolves({ MessageId: 'm-1' });
  });
  afterAll(() => {
    process.env = saved;
    sns?.restore();
  });
  return {
    get table() {
      if (!table) throw new Error('the table is made in beforeAll; use it inside a test');
      return table;
    },
    get sns() {
      if (!sns) throw new Error('SNS is mocked with a topic only');
      return sns;
    },
  };
}
