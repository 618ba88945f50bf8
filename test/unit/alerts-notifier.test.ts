import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AlertEventSink, createAlerting } from '../../functions/commons/alerts/index.ts';
import { parseConfig } from '../../functions/commons/config/load.ts';
import {
  type AlertMessage,
  ConsoleNotifier,
  createNotifier,
  NotifierError,
  SnsNotifier,
} from '../../functions/commons/notifier/index.ts';
import { toAscii, toSmsText, toSnsSubject } from '../../functions/commons/notifier/text.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:flowpilot-alerts';
const MESSAGE: AlertMessage = {
  subject: 'FlowPilot CRITICAL: primary pool low: 42.5 GB (0.8%) left',
  email: 'CRITICAL: primary pool low\n\nWhat to do: top up.',
  sms: 'FlowPilot CRITICAL: primary pool 42.5 GB (0.8%) left. Top up now.',
  default: 'CRITICAL: primary pool low\n\nWhat to do: top up.',
  attributes: { severity: 'critical', rule: 'low-residual', pool: 'primary', kind: 'opened' },
};

describe('Class: SnsNotifier', () => {
  const client = new SNSClient({ region: 'us-east-1' });
  const sns = mockClient(client);

  beforeEach(() => {
    sns.reset();
  });

  it('publishes one JSON-structured message with a text per protocol and filter attributes', async () => {
    // Prepare
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const notifier = new SnsNotifier({ topicArn: TOPIC, client });

    // Act
    await notifier.publish(MESSAGE);

    // Assess
    const calls = sns.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      TopicArn: TOPIC,
      Subject: 'FlowPilot CRITICAL: primary pool low: 42.5 GB (0.8%) left',
      MessageStructure: 'json',
      Message: JSON.stringify({
        default: MESSAGE.default,
        email: MESSAGE.email,
        sms: MESSAGE.sms,
      }),
      MessageAttributes: {
        severity: { DataType: 'String', StringValue: 'critical' },
        rule: { DataType: 'String', StringValue: 'low-residual' },
        pool: { DataType: 'String', StringValue: 'primary' },
        kind: { DataType: 'String', StringValue: 'opened' },
      },
    });
  });

  it('turns an SDK failure into a NotifierError that keeps the cause', async () => {
    // Prepare
    const failure = Object.assign(new Error('Rate exceeded'), { name: 'ThrottledException' });
    sns.on(PublishCommand).rejects(failure);
    const notifier = new SnsNotifier({ topicArn: TOPIC, client });

    // Act
    const attempt = notifier.publish(MESSAGE);

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(NotifierError);
    await expect(attempt).rejects.toMatchObject({
      message: 'SNS Publish failed for low-residual (opened)',
      cause: failure,
    });
  });
});

describe('Class: ConsoleNotifier', () => {
  it('prints the alert readably: attributes, subject, SMS and the email text', async () => {
    // Prepare
    const lines: string[] = [];
    const notifier = new ConsoleNotifier((text) => lines.push(text));

    // Act
    await notifier.publish(MESSAGE);

    // Assess
    const out = lines.join('');
    expect(out).toContain('ALERT opened | severity=critical rule=low-residual pool=primary');
    expect(out).toContain(`Subject: ${MESSAGE.subject}`);
    expect(out).toContain(`SMS:     ${MESSAGE.sms}`);
    expect(out).toContain(MESSAGE.email);
  });
});

describe('Function: createNotifier', () => {
  it('uses SNS when a topic is configured and the console otherwise', () => {
    expect(createNotifier({ topicArn: TOPIC })).toBeInstanceOf(SnsNotifier);
    expect(createNotifier({})).toBeInstanceOf(ConsoleNotifier);
    expect(createNotifier({ topicArn: '' })).toBeInstanceOf(ConsoleNotifier);
  });
});

describe('Text rules', () => {
  it('folds text to ASCII, one ? per run of what cannot be folded', () => {
    expect(toAscii('Zoë – “Ångström” 张三 ok…')).toBe('Zoe - "Angstrom" ? ok...');
  });

  it('cuts an SMS at 160 characters with an ellipsis and replaces non-GSM-7 ASCII', () => {
    // Act
    const sms = toSmsText(`[a]{b}|c\\d^e\`f ${'y'.repeat(300)}`);

    // Assess
    expect(sms).toHaveLength(160);
    expect(sms.startsWith("(a)(b)/c/d'e'f yyy")).toBe(true);
    expect(sms.endsWith('y...')).toBe(true);
  });

  it('makes a one-line subject under 100 characters that starts with a printable character', () => {
    // Act
    const subject = toSnsSubject(`  \n\t张 Alert\nline two ${'z'.repeat(200)}`);

    // Assess
    expect(subject).toMatch(/^\? Alert line two z+\.\.\.$/);
    expect(subject).toHaveLength(99);
    expect(toSnsSubject('   ')).toBe('FlowPilot alert');
  });
});

describe('Function: createAlerting', () => {
  it('wires one store and notifier into the poll deps and the ops-event sink', () => {
    // Act
    const local = createAlerting({ config: parseConfig({}).alerts, tableName: 'flowpilot' });
    const deployed = createAlerting({
      config: parseConfig({}).alerts,
      tableName: 'flowpilot',
      topicArn: TOPIC,
    });

    // Assess
    expect(local.deps.notifier).toBeInstanceOf(ConsoleNotifier);
    expect(deployed.deps.notifier).toBeInstanceOf(SnsNotifier);
    expect(deployed.deps.state).toBe(deployed.store);
    expect(deployed.events).toBeInstanceOf(AlertEventSink);
    expect(deployed.deps.clock()).toBeInstanceOf(Date);
  });
});
