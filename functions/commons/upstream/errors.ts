import { FlowPilotError } from '../errors.ts';

/** Anything that went wrong talking to the Dynamic Traffic API. Never carries the token. */
export class UpstreamError extends FlowPilotError {
  override name = 'UpstreamError';
  readonly endpoint: string;
  /** Worth trying again later (network, 5xx, timeout), as opposed to a definite answer. */
  readonly transient: boolean;

  constructor(message: string, endpoint: string, options: { cause?: unknown; transient: boolean }) {
    super(message, { cause: options.cause, statusCode: 502 });
    this.endpoint = endpoint;
    this.transient = options.transient;
  }
}

/** The upstream rejected the token (it says so with `code: 200` and msg 无效的认证令牌). */
export class UpstreamAuthError extends UpstreamError {
  override name = 'UpstreamAuthError';
  constructor(endpoint: string, options: { cause?: unknown } = {}) {
    super(`upstream rejected the access token (${endpoint})`, endpoint, {
      ...options,
      transient: false,
    });
  }
}

export type TransportFailure = 'timeout' | 'aborted' | 'network' | 'http-status' | 'bad-body';

/**
 * The exchange itself failed: no usable answer. `sent` says the request may have reached the
 * upstream (so a non-idempotent call may have been applied).
 */
export class UpstreamTransportError extends UpstreamError {
  override name = 'UpstreamTransportError';
  readonly kind: TransportFailure;
  readonly httpStatus: number | undefined;
  readonly sent: boolean;

  constructor(
    message: string,
    endpoint: string,
    details: { kind: TransportFailure; httpStatus?: number; sent: boolean; cause?: unknown },
  ) {
    super(message, endpoint, { cause: details.cause, transient: true });
    this.kind = details.kind;
    this.httpStatus = details.httpStatus;
    this.sent = details.sent;
  }
}

/** A well-formed answer whose `code` is a failure; the upstream's message is kept. */
export class UpstreamRejectedError extends UpstreamError {
  override name = 'UpstreamRejectedError';
  readonly code: number;
  readonly upstreamMessage: string;

  constructor(
    endpoint: string,
    code: number,
    upstreamMessage: string,
    options: { cause?: unknown } = {},
  ) {
    super(`upstream ${endpoint} answered code ${code}: ${upstreamMessage}`, endpoint, {
      ...options,
      transient: false,
    });
    this.code = code;
    this.upstreamMessage = upstreamMessage;
  }
}

/** Recharge answered 204: the customer is not in the agent's channel. Permanent. */
export class NotChannelCustomerError extends UpstreamRejectedError {
  override name = 'NotChannelCustomerError';
}

/** `code: 200` but `data` missing or of the wrong shape, and not an auth failure. */
export class UpstreamDataError extends UpstreamError {
  override name = 'UpstreamDataError';
  constructor(message: string, endpoint: string, options: { cause?: unknown } = {}) {
    super(message, endpoint, { ...options, transient: true });
  }
}
