import { FlowPilotError } from '../errors.ts';

/** A rendered alert, ready for any channel. Texts already obey each channel's limits. */
export interface AlertMessage {
  /** SNS `Subject` (email subject line): printable ASCII, under 100 characters. */
  subject: string;
  /** Full text for email. */
  email: string;
  /** One GSM-7 segment of ASCII (<= 160 characters). */
  sms: string;
  /** For any other protocol (HTTP, SQS, Lambda subscribers). */
  default: string;
  /** Published as SNS message attributes so subscriptions can filter. */
  attributes: {
    severity: 'warning' | 'critical';
    rule: string;
    /** `primary`, `secondary`, or `none` for alerts not about a pool. */
    pool: string;
    kind: string;
  };
}

export interface Notifier {
  publish(message: AlertMessage): Promise<void>;
}

/** A notification could not be handed over for delivery. */
export class NotifierError extends FlowPilotError {
  override name = 'NotifierError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, statusCode: 502 });
  }
}
