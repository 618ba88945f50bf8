import { ValidationError } from '../errors.ts';
import {
  UpstreamAuthError,
  UpstreamDataError,
  UpstreamError,
  UpstreamRejectedError,
} from '../upstream/errors.ts';
import type { PollErrorKind } from './store/poll-state.ts';

/**
 * Sorts an upstream failure into the kinds a poll reports; undefined for anything else
 * (a store failure or a bug), which the poller lets through.
 */
export function classifyUpstreamFailure(
  err: unknown,
): { kind: PollErrorKind; message: string } | undefined {
  if (err instanceof UpstreamAuthError) return { kind: 'auth', message: err.message };
  if (err instanceof UpstreamDataError || err instanceof UpstreamRejectedError) {
    return { kind: 'data', message: err.message };
  }
  if (err instanceof UpstreamError) return { kind: 'transport', message: err.message };
  // The client parses figures with units.ts; an unreadable one is bad data, not a bug here.
  if (err instanceof ValidationError) return { kind: 'data', message: err.message };
  return undefined;
}
