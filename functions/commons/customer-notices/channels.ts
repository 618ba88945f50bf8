import {
  type SESv2Client,
  SendEmailCommand,
  type SendEmailCommandInput,
} from '@aws-sdk/client-sesv2';
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import { FlowPilotError } from '../errors.ts';
import { maskContact } from '../store/customer-contacts.ts';
import type { OutboxEntry } from '../store/notice-outbox.ts';

/** A notice could not be handed over; `retryable` when the same request may succeed later. */
export class NoticeDeliveryError extends FlowPilotError {
  override name = 'NoticeDeliveryError';
  readonly retryable: boolean;

  constructor(message: string, options: { cause?: unknown; retryable: boolean }) {
    super(message, { cause: options.cause, statusCode: 502 });
    this.retryable = options.retryable;
  }
}

/** Hands one outbox entry to its channel; answers the provider's message id. */
export interface NoticeChannel {
  /** `sent` through AWS, `printed` locally. */
  readonly delivered: 'sent' | 'printed';
  send(entry: OutboxEntry): Promise<{ messageId?: string }>;
}

const THROTTLED = new Set([
  'TooManyRequestsException',
  'LimitExceededException',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'KMSThrottlingException',
  'InternalErrorException',
  'InternalError',
]);

function retryable(err: unknown): boolean {
  if (!(err instanceof Error)) return true;
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  // No HTTP answer at all (network, timeout): worth another try.
  if (status === undefined) return THROTTLED.has(err.name) || !('$fault' in err);
  return status >= 500 || THROTTLED.has(err.name);
}

/** RFC 2047 encoded word for a display name that is not plain ASCII. */
function displayName(name: string): string {
  if (/^[\x20-\x7e]*$/.test(name)) return `"${name.replace(/["\\]/g, '')}"`;
  return `=?UTF-8?B?${Buffer.from(name, 'utf8').toString('base64')}?=`;
}

export interface SesSenderOptions {
  client: SESv2Client;
  from: string;
  fromName?: string;
  replyTo?: string;
}

/** The exact SES v2 `SendEmail` request for an outbox entry. */
export function sendEmailInput(
  o: Omit<SesSenderOptions, 'client'>,
  e: OutboxEntry,
): SendEmailCommandInput {
  return {
    FromEmailAddress: o.fromName ? `${displayName(o.fromName)} <${o.from}>` : o.from,
    Destination: { ToAddresses: [e.to ?? ''] },
    ...(o.replyTo ? { ReplyToAddresses: [o.replyTo] } : {}),
    Content: {
      Simple: {
        Subject: { Data: e.subject ?? '', Charset: 'UTF-8' },
        Body: { Text: { Data: e.text, Charset: 'UTF-8' } },
        ...(e.headers
          ? { Headers: Object.entries(e.headers).map(([Name, Value]) => ({ Name, Value })) }
          : {}),
      },
    },
    EmailTags: [
      { Name: 'flowpilot-notice', Value: e.kind },
      { Name: 'locale', Value: e.locale.replace(/[^A-Za-z0-9_-]/g, '_') },
    ],
  };
}

/** Email through Amazon SES v2 from the configured identity. */
export class SesEmailChannel implements NoticeChannel {
  readonly delivered = 'sent';
  readonly #o: SesSenderOptions;

  constructor(options: SesSenderOptions) {
    this.#o = options;
  }

  async send(entry: OutboxEntry): Promise<{ messageId?: string }> {
    try {
      const out = await this.#o.client.send(new SendEmailCommand(sendEmailInput(this.#o, entry)));
      return out.MessageId ? { messageId: out.MessageId } : {};
    } catch (cause) {
      throw new NoticeDeliveryError(`SES SendEmail failed (${(cause as Error).name})`, {
        cause,
        retryable: retryable(cause),
      });
    }
  }
}

/** The exact SNS `Publish` request that texts an outbox entry to the customer's number. */
export function smsPublishInput(e: OutboxEntry, senderId?: string): PublishCommandInput {
  const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
  return {
    PhoneNumber: e.to ?? '',
    Message: e.text,
    MessageAttributes: {
      // Transactional: delivered even to numbers on do-not-disturb lists where allowed.
      'AWS.SNS.SMS.SMSType': attribute('Transactional'),
      ...(senderId ? { 'AWS.SNS.SMS.SenderID': attribute(senderId) } : {}),
    },
  };
}

/** SMS by SNS `Publish` straight to a phone number (not the operators' topic). */
export class SnsSmsChannel implements NoticeChannel {
  readonly delivered = 'sent';
  readonly #client: SNSClient;
  readonly #senderId: string | undefined;

  constructor(options: { client: SNSClient; senderId?: string }) {
    this.#client = options.client;
    this.#senderId = options.senderId;
  }

  async send(entry: OutboxEntry): Promise<{ messageId?: string }> {
    try {
      const out = await this.#client.send(
        new PublishCommand(smsPublishInput(entry, this.#senderId)),
      );
      return out.MessageId ? { messageId: out.MessageId } : {};
    } catch (cause) {
      throw new NoticeDeliveryError(`SNS Publish (SMS) failed (${(cause as Error).name})`, {
        cause,
        retryable: retryable(cause),
      });
    }
  }
}

/** Local runtime: prints the notice (recipient masked); the outbox keeps the rest. */
export class PrintChannel implements NoticeChannel {
  readonly delivered = 'printed';
  readonly #write: (text: string) => void;

  constructor(write: (text: string) => void = (text) => process.stdout.write(text)) {
    this.#write = write;
  }

  async send(e: OutboxEntry): Promise<{ messageId?: string }> {
    const bar = '-'.repeat(72);
    this.#write(
      [
        bar,
        `CUSTOMER NOTICE ${e.kind} | customer=${e.customerId} channel=${e.channel} locale=${e.locale} to=${maskContact(e.to)}`,
        ...(e.subject ? [`Subject: ${e.subject}`] : []),
        ...Object.entries(e.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
        '',
        e.text,
        bar,
        '',
      ].join('\n'),
    );
    return {};
  }
}
