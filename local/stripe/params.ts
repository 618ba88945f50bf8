/**
 * Stripe's request parameters as the stand-in reads them: form bodies (and query strings) with
 * bracketed keys, checked against what each endpoint takes, refused with the error Stripe
 * answers (`parameter_unknown`, `parameter_missing`, `parameter_invalid_integer`, …).
 */

export type Params = { [key: string]: Param };
export type Param = string | Params;

/**
 * `a[b][c]=1` → `{ a: { b: { c: '1' } } }`, as Stripe reads form bodies. An array arrives as a
 * hash of indexes (`line_items[0][quantity]=1`, `expand[]=x` → `{ 0: … }`): only the endpoint
 * knows whether `metadata[2024]` is a key or `line_items[0]` an index.
 */
export function decodeForm(body: string): Params {
  const out: Params = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const [head = '', ...rest] = rawKey.replace(/\]/g, '').split('[');
    let node = out;
    let key = head;
    for (const part of rest) {
      const existing = node[key];
      const child: Params = typeof existing === 'object' ? existing : {};
      node[key] = child;
      node = child;
      key = part === '' ? String(Object.keys(child).length) : part;
    }
    node[key] = value;
  }
  return out;
}

/** A hash of indexes as the array it stands for; undefined when it is not one. */
function asArray(v: Param | undefined): Param[] | undefined {
  if (typeof v !== 'object') return undefined;
  const keys = Object.keys(v);
  if (!keys.every((k) => /^\d+$/.test(k))) return undefined;
  return keys.sort((a, b) => Number(a) - Number(b)).map((k) => v[k] as Param);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    /** Stripe keeps no idempotent result for a request refused before it ran. */
    readonly beforeExecution = false,
  ) {
    super(String(body.message));
  }
}

export const docUrl = (code: string) =>
  `https://docs.stripe.com/error-codes/${code.replace(/_/g, '-')}`;

/** A request Stripe refuses as invalid, with the error code when Stripe gives one. */
export function invalid(message: string, param?: string, code?: string): ApiError {
  return new ApiError(
    400,
    {
      type: 'invalid_request_error',
      ...(code ? { code, doc_url: docUrl(code) } : {}),
      message,
      ...(param ? { param } : {}),
    },
    true,
  );
}

/** What an endpoint takes: each parameter's kind, nested for hashes and arrays. */
export type Rule =
  | 'string'
  | 'integer'
  | 'boolean'
  | 'metadata'
  | { enum: readonly string[] }
  | { hash: Shape }
  | { array: Rule };
export type Shape = { readonly [key: string]: Rule };

const isHash = (v: Param | undefined): v is Params => typeof v === 'object';

/** Refuses what Stripe refuses before running the request: unknown keys, wrong kinds. */
export function check(params: Params, shape: Shape, prefix = ''): void {
  for (const [key, value] of Object.entries(params)) {
    const name = prefix ? `${prefix}[${key}]` : key;
    const rule = shape[key];
    if (!rule) throw invalid(`Received unknown parameter: ${name}`, name, 'parameter_unknown');
    checkValue(value, rule, name);
  }
}

function checkValue(value: Param, rule: Rule, name: string): void {
  if (rule === 'metadata') {
    checkMetadata(value, name);
    return;
  }
  if (typeof rule === 'object' && 'hash' in rule) {
    if (!isHash(value)) throw invalid('Invalid hash', name);
    check(value, rule.hash, name);
    return;
  }
  if (typeof rule === 'object' && 'array' in rule) {
    const items = asArray(value);
    if (!items) throw invalid('Invalid array', name);
    items.forEach((v, i) => {
      checkValue(v, rule.array, `${name}[${i}]`);
    });
    return;
  }
  if (typeof value !== 'string') {
    throw invalid(`Invalid ${name}: must be a string`, name);
  }
  if (rule === 'integer' && value !== '' && !/^-?\d+$/.test(value)) {
    throw invalid(`Invalid integer: ${value}`, name, 'parameter_invalid_integer');
  }
  if (rule === 'boolean' && value !== 'true' && value !== 'false') {
    throw invalid(`Invalid boolean: ${value}`, name);
  }
  if (typeof rule === 'object' && !rule.enum.includes(value)) {
    throw invalid(`Invalid ${name}: must be one of ${oneOf(rule.enum)}`, name);
  }
}

const oneOf = (values: readonly string[]) =>
  values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')}, or ${values.at(-1)}`;

function checkMetadata(value: Param, name: string): void {
  // `metadata=` (empty) unsets every key, as Stripe allows.
  if (value === '') return;
  if (!isHash(value)) throw invalid('Invalid hash', name);
  const entries = Object.entries(value);
  if (entries.length > 50) {
    throw invalid('Metadata can have up to 50 keys.', name);
  }
  for (const [key, v] of entries) {
    if (typeof v !== 'string') throw invalid('Invalid metadata value', `${name}[${key}]`);
    if (key.length > 40) {
      throw invalid(`Metadata keys can have up to 40 characters: ${key}`, `${name}[${key}]`);
    }
    if (v.length > 500) {
      throw invalid(
        `Metadata values can have up to 500 characters, but you passed in a value that is ${v.length} characters.`,
        `${name}[${key}]`,
      );
    }
  }
}

// ---- Reading checked parameters --------------------------------------------------------

export function text(p: Params, key: string): string | undefined {
  const v = p[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function hash(p: Params, key: string): Params | undefined {
  const v = p[key];
  return isHash(v) ? v : undefined;
}

export function list(p: Params, key: string): Param[] {
  return asArray(p[key]) ?? [];
}

export const flag = (p: Params, key: string) => p[key] === 'true';

/** A parameter Stripe requires: `parameter_missing` when absent, `parameter_invalid_empty` when ''. */
export function required(p: Params, key: string, name = key): string {
  const v = p[key];
  if (v === undefined) throw invalid(`Missing required param: ${name}.`, name, 'parameter_missing');
  if (v === '') {
    throw invalid(
      `You passed an empty string for '${name}'. We assume empty values are an attempt to unset a parameter; however '${name}' cannot be unset. You should remove '${name}' from your request or supply a non-empty value.`,
      name,
      'parameter_invalid_empty',
    );
  }
  if (typeof v !== 'string') throw invalid(`Invalid ${name}: must be a string`, name);
  return v;
}

/** An integer parameter at or above `min` (already checked to be digits). */
export function integer(p: Params, key: string, min: number, name = key): number {
  const n = Number(required(p, key, name));
  if (!Number.isSafeInteger(n)) {
    throw invalid(`Invalid integer: ${p[key]}`, name, 'parameter_invalid_integer');
  }
  if (n < min) {
    throw invalid(
      `This value must be greater than or equal to ${min}.`,
      name,
      'parameter_invalid_integer',
    );
  }
  return n;
}

export function metadataOf(p: Params, key = 'metadata'): Record<string, string> {
  const out: Record<string, string> = {};
  const m = hash(p, key);
  if (m) for (const [k, v] of Object.entries(m)) if (typeof v === 'string') out[k] = v;
  return out;
}

export function currencyOf(p: Params, key: string, name = key): string {
  const c = required(p, key, name).toLowerCase();
  if (!/^[a-z]{3}$/.test(c)) throw invalid(`Invalid currency: ${c}`, name);
  return c;
}
