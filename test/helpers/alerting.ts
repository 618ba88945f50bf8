import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach } from 'vitest';
import { AlertEventSink } from '../../functions/commons/alerts/index.ts';
import { AlertStateStore } from '../../functions/commons/alerts/store/alert-state.ts';
import { SnsNotifier } from '../../functions/commons/notifier/index.ts';
import { createTestTable } from './dynamo.ts';

/**
 * The real alerting sink (its state in DynamoDB Local, notices through the SNS notifier with
 * SNS mocked), for tests of whether a person is told: it notifies a kind and subject once,
 * folds repeats into the open alert, and keeps an acknowledgement until the status changes.
 */
export function useAlertingSink(table: string) {
  const sns = mockClient(SNSClient);
  afterEach(() => {
    sns.reset();
  });
  return {
    /** A sink and its state store over a fresh table, on the test's clock. */
    async create(clock: () => Date) {
      const t = await createTestTable(table);
      const store = new AlertStateStore({ client: t.doc, tableName: t.tableName });
      sns.on(PublishCommand).resolves({ MessageId: 'm' });
      const sink = new AlertEventSink({
        state: store,
        notifier: new SnsNotifier({
          topicArn: 'arn:aws:sns:us-east-1:1:a',
          client: new SNSClient({}),
        }),
        clock,
        reminderMs: 240 * 60_000,
      });
      return { store, sink };
    },
    /** SNS messages published so far in the test. */
    published: () => sns.commandCalls(PublishCommand).length,
    /** SNS refusing every publish (true) or taking them again (false). */
    snsDown(down: boolean) {
      if (down) sns.on(PublishCommand).rejects(new Error('SNS unavailable'));
      else sns.on(PublishCommand).resolves({ MessageId: 'm' });
    },
  };
}
