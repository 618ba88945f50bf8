/**
 * Text rules of the channels SNS delivers to. An SMS must fit one GSM-7 segment (160
 * characters) and we keep it to ASCII; some ASCII characters are not in GSM-7's basic table
 * (they cost two characters or do not exist), so they are replaced. An SNS `Subject` must be
 * ASCII, start with a letter, digit or punctuation, carry no line breaks or control
 * characters and stay under 100 characters.
 */

export const SMS_MAX_CHARS = 160;
export const SUBJECT_MAX_CHARS = 99;

const TYPOGRAPHY: Record<string, string> = {
  '\u2018': "'",
  '\u2019': "'",
  '\u201c': '"',
  '\u201d': '"',
  '\u2013': '-',
  '\u2014': '-',
  '\u2026': '...',
  '\u00a0': ' ',
  '\u00d7': 'x',
  '\u2248': '~',
  '\u00f7': '/',
};

/** ASCII characters outside GSM-7's basic table, and what an SMS says instead. */
const SMS_UNSAFE: Record<string, string> = {
  '[': '(',
  ']': ')',
  '{': '(',
  '}': ')',
  '\\': '/',
  '|': '/',
  '^': "'",
  '`': "'",
  '~': 'about ',
};

/**
 * Folds text to printable ASCII (and newlines): accents dropped, typography mapped, control
 * characters to spaces, and each run of anything else to one `?`.
 */
export function toAscii(text: string): string {
  let out = '';
  let inUnknownRun = false;
  for (const c of text.normalize('NFKD')) {
    const code = c.codePointAt(0) ?? 0;
    if (code >= 0x300 && code <= 0x36f) continue;
    const known = code < 0x7f ? c : TYPOGRAPHY[c];
    if (known === undefined || code === 0x7f) {
      if (!inUnknownRun && code !== 0x7f) out += '?';
      inUnknownRun = code !== 0x7f;
      continue;
    }
    inUnknownRun = false;
    out += code < 0x20 && c !== '\n' ? ' ' : known;
  }
  return out;
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 3).trimEnd()}...`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** One GSM-7 segment of ASCII: folded, unsafe characters replaced, cut at 160 with `...`. */
export function toSmsText(text: string): string {
  const safe = toAscii(text).replace(/[[\]{}\\|^`~]/g, (c) => SMS_UNSAFE[c] ?? '?');
  return truncate(oneLine(safe), SMS_MAX_CHARS);
}

/** An SNS `Subject`: printable ASCII on one line, under 100 characters. */
export function toSnsSubject(text: string): string {
  const line = oneLine(toAscii(text)).replace(/^[^A-Za-z0-9!-/:-@[-`{-~]+/, '');
  return truncate(line || 'FlowPilot alert', SUBJECT_MAX_CHARS);
}
