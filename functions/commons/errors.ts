/**
 * Base of every error FlowPilot raises on purpose. `statusCode` follows middy's convention:
 * below 500 the message may reach a caller; at 500 and above callers get a generic message
 * and the original stays in the log through `cause`.
 */
export class FlowPilotError extends Error {
  override name = 'FlowPilotError';
  readonly statusCode: number;

  constructor(message: string, options: { cause?: unknown; statusCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    // Classes bundled into a Lambda name themselves with a literal (`override name`): the
    // bundles are minified without keepNames, so `new.target.name` would read `Cr` there.
    // Subclasses elsewhere (the CLI, the local runtime) are named by their constructor.
    if (new.target !== FlowPilotError) this.name = new.target.name;
    this.statusCode = options.statusCode ?? 500;
  }
}

/** Configuration or environment that cannot be used; raised once, at start. */
export class ConfigError extends FlowPilotError {
  override name = 'ConfigError';
  readonly issues: readonly string[];

  constructor(message: string, issues: readonly string[] = [], options: { cause?: unknown } = {}) {
    super(message, { ...options, statusCode: 500 });
    this.issues = issues;
  }
}

/** A value that cannot be read as a decimal, a date or a unit. */
export class ValidationError extends FlowPilotError {
  override name = 'ValidationError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, statusCode: 400 });
  }
}
