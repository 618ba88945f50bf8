import { FlowPilotError } from '../errors.ts';

/**
 * A webhook request refused before anything is changed. The message is short and fixed, so it
 * may reach the caller; details that help an operator go in `cause` (logged, never answered).
 */
export class WebhookRequestError extends FlowPilotError {
  override name = 'WebhookRequestError';
  constructor(statusCode: number, message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, statusCode });
  }
}

/** 400: the body is not an event of the documented shape. */
export class MalformedWebhookError extends WebhookRequestError {
  override name = 'MalformedWebhookError';
  constructor(message = 'malformed event', options: { cause?: unknown } = {}) {
    super(400, message, options);
  }
}

/** 401: missing, stale or wrong signature. */
export class WebhookSignatureError extends WebhookRequestError {
  override name = 'WebhookSignatureError';
  constructor(options: { cause?: unknown } = {}) {
    super(401, 'invalid signature', options);
  }
}
