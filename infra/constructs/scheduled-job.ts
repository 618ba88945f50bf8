import { Annotations, Duration, Validations } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FunctionName } from '../bundling.ts';
import { maxEventAge, scheduleInterval } from '../schedule.ts';
import { FlowPilotFunction } from './function.ts';

/** Lambda's maximum for asynchronous invocations; EventBridge retries delivery as often. */
export const SCHEDULED_RETRY_ATTEMPTS = 2;

/**
 * An encrypted queue kept 14 days for what a function and its trigger (`of`) finally failed
 * to do; nothing consumes it, and the observability alarms fire on its first message.
 */
export function deadLetterQueue(scope: Construct, of: string): Queue {
  const queue = new Queue(scope, 'DeadLetterQueue', {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: `This queue is itself the dead-letter queue of ${of}.`,
  });
  Validations.of(queue).acknowledge({
    id: 'cdk-validator-cfnguard::sqs_dlq_check',
    reason:
      'CT.SQS.PR.1: this queue is itself a dead-letter queue; nothing consumes it, so no message can fail over to another one. An alarm fires on its first message.',
  });
  return queue;
}

export interface ScheduledJobProps {
  readonly name: FunctionName;
  readonly description: string;
  /** EventBridge schedule expression from the configuration (`schedules.*`). */
  readonly schedule: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
}

/**
 * A function run by an EventBridge rule: one at a time (reserved concurrency 1, so two polls
 * never overlap), retried twice, and whatever still fails (a throw after the retries, or an
 * event EventBridge could not deliver) lands in an encrypted dead-letter queue that an alarm
 * watches.
 */
export class ScheduledJob extends Construct {
  readonly function: FlowPilotFunction;
  readonly deadLetterQueue: Queue;
  readonly rule: Rule;
  /** Longest gap between two runs; undefined when it runs less often than daily. */
  readonly interval: Duration | undefined;

  constructor(scope: Construct, id: string, props: ScheduledJobProps) {
    super(scope, id);
    this.interval = scheduleInterval(props.schedule);
    if (!this.interval) {
      Annotations.of(this).addWarningV2(
        'flowpilot:schedule-rare',
        `${props.name} runs less often than daily (${props.schedule}); no "stopped running" alarm`,
      );
    }
    const eventAge = maxEventAge(this.interval);

    this.deadLetterQueue = deadLetterQueue(this, 'the function and its schedule');

    this.function = new FlowPilotFunction(this, 'Function', {
      name: props.name,
      description: props.description,
      timeout: props.timeout,
      memorySize: props.memorySize,
      reservedConcurrentExecutions: 1,
      environment: props.environment,
    });
    this.function.configureAsyncInvoke({
      retryAttempts: SCHEDULED_RETRY_ATTEMPTS,
      maxEventAge: eventAge,
      onFailure: new SqsDestination(this.deadLetterQueue),
    });

    this.rule = new Rule(this, 'Schedule', {
      description: `Runs ${props.name} on ${props.schedule}`,
      schedule: Schedule.expression(props.schedule),
      targets: [
        new LambdaFunction(this.function, {
          retryAttempts: SCHEDULED_RETRY_ATTEMPTS,
          maxEventAge: eventAge,
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });
  }
}
