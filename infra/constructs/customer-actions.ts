import { Duration, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { LambdaSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { BALANCE_CHANGES_TOPIC_ENV } from '../../functions/commons/customers/handoff.ts';
import { FUNCTION_TIMEOUT_SECONDS } from '../limits.ts';
import { FlowPilotFunction } from './function.ts';
import { deadLetterQueue, SCHEDULED_RETRY_ATTEMPTS } from './scheduled-job.ts';

export interface CustomerActionsProps {
  /** Encrypts the balance-changes topic (the notifications key). */
  readonly key: IKey;
  readonly environment: Record<string, string>;
}

/** What can publish balance changes (a FlowPilotFunction has both). */
export interface BalanceChangesPublisher {
  addEnvironment(key: string, value: string): unknown;
  readonly executionRole: iam.IRole;
}

/**
 * customer-actions: the customer notices and auto top-up, apart from the balance poll that
 * feeds them, so the poll carries neither SES nor Stripe. poll-customers publishes each
 * run's changes to an encrypted topic; this function is its one subscriber, one message at a
 * time (reserved concurrency 1, as the notices and charges ran inside the poll before), a
 * failed invocation retried twice, and what still fails (or what SNS could not deliver) lands
 * in a dead-letter queue that an alarm watches.
 */
export class CustomerActions extends Construct {
  readonly topic: Topic;
  readonly function: FlowPilotFunction;
  readonly deadLetterQueue: Queue;
  /** Runs when poll-customers does; no schedule of its own to miss. */
  readonly interval = undefined;

  constructor(scope: Construct, id: string, props: CustomerActionsProps) {
    super(scope, id);
    this.topic = new Topic(this, 'BalanceChangesTopic', {
      displayName: 'FlowPilot balance changes (internal)',
      masterKey: props.key,
      enforceSSL: true,
    });
    this.deadLetterQueue = deadLetterQueue(this, 'customer-actions and its subscription');
    this.function = new FlowPilotFunction(this, 'Function', {
      name: 'customer-actions',
      description: 'Sends customer notices and charges auto top-ups on each balance change',
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS['customer-actions']),
      memorySize: 512,
      reservedConcurrentExecutions: 1,
      environment: props.environment,
    });
    this.function.configureAsyncInvoke({
      retryAttempts: SCHEDULED_RETRY_ATTEMPTS,
      maxEventAge: Duration.hours(6),
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
    this.topic.addSubscription(
      new LambdaSubscription(this.function, { deadLetterQueue: this.deadLetterQueue }),
    );
  }

  /** Lets `fn` publish the balance changes: the topic's ARN in its environment and the grant. */
  grantPublish(fn: BalanceChangesPublisher): this {
    fn.addEnvironment(BALANCE_CHANGES_TOPIC_ENV, this.topic.topicArn);
    this.topic.grantPublish(fn.executionRole);
    Validations.of(fn.executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason:
        'Publishing to a KMS-encrypted topic needs GenerateDataKey*; the grant is limited to the topic key.',
    });
    return this;
  }
}
