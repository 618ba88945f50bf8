/**
 * Readable console logs for the local runtime on a terminal. The handlers log through
 * Powertools exactly as in Lambda; with POWERTOOLS_DEV set it prints through the global
 * console, which this module wraps: each Powertools JSON line becomes one short line
 * (time, coloured level, function, message, key fields). Anything else passes through.
 * Lambdas never load this: they keep one JSON document per line.
 */

/** Keys every Powertools line carries; shown in the prefix or not at all. */
const PLUMBING = new Set([
  'level',
  'message',
  'timestamp',
  'service',
  'sampling_rate',
  'xray_trace_id',
  'cold_start',
  'function_arn',
  'function_memory_size',
  'function_request_id',
  'function_name',
  'correlation_id',
]);

const COLORS: Record<string, string> = {
  DEBUG: '\x1b[90m',
  INFO: '\x1b[36m',
  WARN: '\x1b[33m',
  ERROR: '\x1b[31m',
  CRITICAL: '\x1b[1;31m',
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

/** Longest value shown for one field; the JSON form (LOG_FORMAT=json) has everything. */
const MAX_VALUE = 120;
/** Longest line; what is cut is in the JSON form. */
const MAX_LINE = 400;

function isError(v: unknown): boolean {
  return !!v && typeof v === 'object' && 'message' in v && 'name' in v;
}

/** Nested objects as dotted keys (`outcome.pools.primary.residualMb`), errors kept whole. */
function flatten(entries: [string, unknown][], prefix = ''): [string, unknown][] {
  return entries.flatMap(([k, v]): [string, unknown][] =>
    v && typeof v === 'object' && !Array.isArray(v) && !isError(v)
      ? flatten(Object.entries(v), `${prefix}${k}.`)
      : [[`${prefix}${k}`, v]],
  );
}

function value(v: unknown): string {
  if (isError(v)) {
    const e = v as { name: unknown; message: unknown; location?: unknown };
    return `${String(e.name)}: ${String(e.message)}${e.location ? ` (${String(e.location)})` : ''}`;
  }
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  const quoted = typeof v === 'string' && /\s/.test(text) ? JSON.stringify(text) : text;
  return quoted.length > MAX_VALUE ? `${quoted.slice(0, MAX_VALUE - 1)}…` : quoted;
}

/** `HH:mm:ss` in UTC, as every other time the runtime prints is UTC. */
function clock(timestamp: unknown): string {
  const d = typeof timestamp === 'string' ? new Date(timestamp) : new Date();
  return Number.isNaN(d.getTime()) ? String(timestamp) : d.toISOString().slice(11, 19);
}

/**
 * One Powertools log line (its JSON text) as a readable line, or undefined when the text is
 * not a Powertools log line.
 */
export function formatLogLine(text: string, opts: { color: boolean }): string | undefined {
  if (!text.startsWith('{')) return undefined;
  let log: Record<string, unknown>;
  try {
    log = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof log.level !== 'string' || !('message' in log)) return undefined;
  const level = log.level.toUpperCase();
  const paint = (code: string | undefined, s: string) =>
    opts.color && code ? `${code}${s}${RESET}` : s;
  const fn = typeof log.function_name === 'string' ? `${log.function_name}: ` : '';
  let line = `${paint(DIM, `${clock(log.timestamp)}Z`)} ${paint(COLORS[level], level.padEnd(5))} ${fn}${String(log.message)}`;
  let width = `${clock(log.timestamp)}Z ${level.padEnd(5)} ${fn}${String(log.message)}`.length;
  const fields = flatten(Object.entries(log).filter(([k]) => !PLUMBING.has(k)));
  for (const [k, v] of fields) {
    if (v === undefined || v === null) continue;
    const text = `${k}=${value(v)}`;
    if (width + text.length + 2 > MAX_LINE) {
      line += '  …';
      break;
    }
    line += `  ${paint(DIM, `${k}=`)}${value(v)}`;
    width += text.length + 2;
  }
  return line;
}

type ConsoleMethod = 'log' | 'info' | 'warn' | 'error' | 'debug';

/** Wraps the global console so that Powertools lines print readably; see formatLogLine. */
export function installReadableLogs(opts: { color: boolean }): void {
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as ConsoleMethod[]) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const [first, ...rest] = args;
      const line =
        typeof first === 'string' && rest.length === 0 ? formatLogLine(first, opts) : undefined;
      if (line === undefined) original(...args);
      else original(line);
    };
  }
}

/** Readable logs on a terminal; JSON when not a terminal or with LOG_FORMAT=json. */
export function readableLogsWanted(env: NodeJS.ProcessEnv, isTty: boolean): boolean {
  if (env.LOG_FORMAT === 'json') return false;
  if (env.LOG_FORMAT === 'text') return true;
  return isTty;
}
