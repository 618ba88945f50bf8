import { PublishCommand } from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import { lambdaContext, scheduledEvent, useDeployedEnv } from '../helpers/deployed-env.ts';
import { useSimulator } from '../helpers/simulator.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:flowpilot-alerts';
const fixture = useSimulator();
// Due from midnight UTC: the first poll of any day sends it.
const env = useDeployedEnv(fixture, 'poll-digest', {
  topic: TOPIC,
  config: { alerts: { digest: { enabled: true, time: '00:00', timeZone: 'UTC' } } },
});
const sns = env.sns;
const context = lambdaContext('req-d');

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
    const first = await handler(scheduledEvent, context);
    const second = await handler(scheduledEvent, context);

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
