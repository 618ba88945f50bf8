import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestTable } from '../helpers/dynamo.ts';
import { useSimulator } from '../helpers/simulator.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:flowpilot-alerts';
const fixture = useSimulator();
const sns = mockClient(SNSClient);
const saved = { ...process.env };

const event = { 'detail-type': 'Scheduled Event', source: 'aws.events' } as ScheduledEvent;
const context = { awsRequestId: 'req-d', getRemainingTimeInMillis: () => 60_000 } as Context;

beforeAll(async () => {
  const table = await createTestTable('poll-digest');
  process.env.TABLE_NAME = table.tableName;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = inject('dynamoEndpoint');
  process.env.SNS_TOPIC_ARN = TOPIC;
  process.env.IPWEB_TOKEN = fixture.sim.token;
  // Due from midnight UTC: the first poll of any day sends it.
  process.env.FLOWPILOT_CONFIG_JSON = JSON.stringify({
    upstream: { baseUrl: fixture.sim.url, retry: { attempts: 1 } },
    alerts: { digest: { enabled: true, time: '00:00', timeZone: 'UTC' } },
  });
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
});

afterAll(() => {
  process.env = saved;
  sns.restore();
});

describe('Handler: poll-totals sending the daily digest', () => {
  it('sends the digest with the first poll of the day, listing the alert that poll opened, and once', async () => {
    // Prepare: 30 GB left of 5 TB.
    fixture.sim.setPool('primary', {
      rechargedMb: '5242880',
      consumedMb: '5212160',
      residualMb: '30720',
    });
    const { handler } = await import('../../functions/poll-totals.ts');

    // Act
    const first = await handler(event, context);
    const second = await handler(event, context);

    // Assess
    expect([first.digest, second.digest]).toEqual(['sent', 'already-sent']);
    const kinds = sns
      .commandCalls(PublishCommand)
      .map(({ args }) => args[0].input.MessageAttributes?.kind?.StringValue);
    expect(kinds).toEqual(['opened', 'digest']);
    const digest = sns.commandCalls(PublishCommand)[1]?.args[0].input;
    expect(digest?.Subject).toBe('FlowPilot daily digest: 1 open alert (1 critical)');
    expect(digest?.MessageAttributes?.severity?.StringValue).toBe('warning');
    expect(JSON.parse(digest?.Message ?? '{}').email).toContain(
      '- CRITICAL low-residual/primary: primary pool low: 30 GB (0.6%) left',
    );
  });
});
