import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import { snsClient } from '../clients/sns.ts';
import { toSmsText, toSnsSubject } from './text.ts';
import { type AlertMessage, type Notifier, NotifierError } from './types.ts';

/** The exact `Publish` request for a message: one text per protocol, filterable attributes. */
export function publishInput(topicArn: string, message: AlertMessage): PublishCommandInput {
  const { severity, rule, pool, kind } = message.attributes;
  const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
  return {
    TopicArn: topicArn,
    // Texts are built to fit; folding again guards the channel limits.
    Subject: toSnsSubject(message.subject),
    MessageStructure: 'json',
    Message: JSON.stringify({
      default: message.default,
      email: message.email,
      sms: toSmsText(message.sms),
    }),
    MessageAttributes: {
      severity: attribute(severity),
      rule: attribute(rule),
      pool: attribute(pool),
      kind: attribute(kind),
    },
  };
}

/** Publishes alerts to one SNS topic; email and SMS subscribers each get their own text. */
export class SnsNotifier implements Notifier {
  readonly #client: SNSClient;
  readonly #topicArn: string;

  constructor(options: { topicArn: string; client?: SNSClient }) {
    this.#topicArn = options.topicArn;
    this.#client = options.client ?? snsClient;
  }

  async publish(message: AlertMessage): Promise<void> {
    try {
      await this.#client.send(new PublishCommand(publishInput(this.#topicArn, message)));
    } catch (cause) {
      const { rule, kind } = message.attributes;
      throw new NotifierError(`SNS Publish failed for ${rule} (${kind})`, { cause });
    }
  }
}
