import { FlowPilotError } from '../errors.ts';

const THROTTLES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

/** The error's SDK name says DynamoDB pushed back; the same request may succeed later. */
export function isThrottle(err: unknown): boolean {
  return err instanceof Error && THROTTLES.has(err.name);
}

/** A DynamoDB call failed. Callers see this, never an SDK type; the SDK error is the cause. */
export class StoreError extends FlowPilotError {
  override name = 'StoreError';
  /** What the store was doing, e.g. `usage.writeRows`. */
  readonly operation: string;
  /** Worth trying again later (throttling, unprocessed items left after retries). */
  readonly retryable: boolean;

  constructor(
    message: string,
    operation: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(message, { cause: options.cause, statusCode: 503 });
    this.operation = operation;
    this.retryable = options.retryable ?? isThrottle(options.cause);
  }
}

/** Runs one SDK call and turns whatever it throws into a StoreError. */
export async function storeCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    if (cause instanceof StoreError) throw cause;
    const name = cause instanceof Error ? cause.name : 'unknown error';
    throw new StoreError(`DynamoDB ${operation} failed (${name})`, operation, { cause });
  }
}
