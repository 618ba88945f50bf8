import type { SNSClient } from '@aws-sdk/client-sns';
import { ConsoleNotifier } from './console.ts';
import { SnsNotifier } from './sns.ts';
import type { Notifier } from './types.ts';

export { ConsoleNotifier } from './console.ts';
export { publishInput, SnsNotifier } from './sns.ts';
export type { AlertMessage, Notifier } from './types.ts';
export { NotifierError } from './types.ts';

/** SNS when a topic is configured (`SNS_TOPIC_ARN`), else the console (local runtime). */
export function createNotifier(options: { topicArn?: string; client?: SNSClient } = {}): Notifier {
  if (!options.topicArn) return new ConsoleNotifier();
  return new SnsNotifier({ topicArn: options.topicArn, client: options.client });
}
