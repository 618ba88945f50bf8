import { FlowPilotError } from '../../functions/commons/errors.ts';

/** Exit codes: what a script can rely on. */
export const EXIT = {
  ok: 0,
  /** Something failed while doing the work (store, upstream, environment). */
  failure: 1,
  /** The command line is wrong; nothing was done. */
  usage: 2,
  /** What was asked for does not exist. */
  notFound: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI explains in one line; `exitCode` says what kind. */
export class CliError extends FlowPilotError {
  readonly exitCode: ExitCode;

  constructor(message: string, options: { cause?: unknown; exitCode?: ExitCode } = {}) {
    super(message, { cause: options.cause, statusCode: 400 });
    this.exitCode = options.exitCode ?? EXIT.failure;
  }
}

/** Bad arguments: exit 2, with the command's usage line. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.usage });
  }
}

export class NotFoundError extends CliError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.notFound });
  }
}
