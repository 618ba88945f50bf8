import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Writes test/fixtures/stripe-openapi-subset.json: the OpenAPI schemas (properties, required,
 * nullable, enum, type) of the Stripe objects the local stand-in answers with, for the API
 * version FlowPilot pins. `npx tsx scripts/stripe-openapi-subset.ts`.
 *
 * Where the schemas come from: the pinned version is the one of the installed `stripe`
 * package (23.1.0, `2026-10-28.endive`), whose type declarations Stripe generates from its
 * OpenAPI spec (github.com/stripe/openapi, at the tag named in the package's OPENAPI_VERSION
 * file, v2596). The declarations keep what the subset needs: a `nullable` property is
 * declared `| null`, an enum as a union of string literals, and a property is optional (`?`)
 * only when Stripe may leave it out, so `required` here is the spec's `required` plus every
 * nullable property (which Stripe always sends, null when unset): stricter than spec3.json's
 * own lists, which test/integration/stripe-stand-in.test.ts checks it contains. They lose
 * `integer` (declared `number`) and descriptions. Read from the declarations because the
 * pinned tag's spec3.json (8 MB) was not reachable here; the JSON written has the spec's
 * shape, so a subset cut from spec3.json can replace it.
 */

const ROOTS: Record<string, [file: string, name: string]> = {
  'checkout.session': ['resources/Checkout/Sessions.d.ts', 'Session'],
  payment_intent: ['resources/PaymentIntents.d.ts', 'PaymentIntent'],
  payment_method: ['resources/PaymentMethods.d.ts', 'PaymentMethod'],
  setup_intent: ['resources/SetupIntents.d.ts', 'SetupIntent'],
  event: ['resources/Events.d.ts', 'EventBase'],
  list: ['lib.d.ts', 'ApiList'],
};
/** Nested objects below this depth are left open ({}): the stand-in fills none of them. */
const MAX_DEPTH = 3;

export type Schema = {
  type?: 'string' | 'number' | 'boolean' | 'object' | 'array';
  nullable?: true;
  enum?: string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema;
  items?: Schema;
  anyOf?: Schema[];
  $ref?: string;
};

const stripeDir = fileURLToPath(new URL('../node_modules/stripe', import.meta.url));
const esm = join(stripeDir, 'esm');
const files = Object.values(ROOTS).map(([f]) => join(esm, f));
const program = ts.createProgram(files, { strict: true, noEmit: true });
const checker = program.getTypeChecker();

function exported(file: string, name: string): ts.Type {
  const source = program.getSourceFile(join(esm, file));
  const module = source && checker.getSymbolAtLocation(source);
  const symbol = module && checker.getExportsOfModule(module).find((s) => s.name === name);
  if (!symbol) throw new Error(`${name} not found in ${file}`);
  return checker.getDeclaredTypeOfSymbol(symbol);
}

const rootTypes = new Map<ts.Symbol, string>();
for (const [key, [file, name]] of Object.entries(ROOTS)) {
  const symbol = exported(file, name).getSymbol();
  if (symbol && key !== 'list') rootTypes.set(symbol, key);
}

/** A top-level Stripe resource (has `id` and a literal `object`): its id or the object. */
function isResource(type: ts.Type): boolean {
  const object = type.getProperty('object');
  return type.getProperty('id') !== undefined && object !== undefined;
}

function convert(type: ts.Type, depth: number): Schema {
  const members = type.isUnion() ? type.types : [type];
  const nullable = members.some((t) => t.flags & ts.TypeFlags.Null);
  // `OtherString` (string & Record<never, never>) keeps the SDK's enums open to values Stripe
  // adds later; the spec's enum is the literals.
  const rest = members.filter(
    (t) =>
      !(t.flags & (ts.TypeFlags.Null | ts.TypeFlags.Undefined)) &&
      !(t.isIntersection() && t.types.some((m) => m.flags & ts.TypeFlags.String)),
  );
  const out = convertMembers(rest, depth);
  return nullable ? { ...out, nullable: true } : out;
}

function convertMembers(members: ts.Type[], depth: number): Schema {
  if (members.length === 0) return {};
  if (members.every((t) => t.flags & ts.TypeFlags.BooleanLike)) return { type: 'boolean' };
  if (members.every((t) => t.isStringLiteral())) {
    return { type: 'string', enum: members.map((t) => (t as ts.StringLiteralType).value).sort() };
  }
  if (members.every((t) => t.flags & ts.TypeFlags.StringLike)) return { type: 'string' };
  if (members.length > 1) {
    // Expandable fields: an id, or the object once expanded (`string | Customer | null`).
    const kinds = members.map((t) => convertMembers([t], depth));
    const unique = [...new Map(kinds.map((k) => [JSON.stringify(k), k])).values()];
    return unique.length === 1 ? (unique[0] as Schema) : { anyOf: unique };
  }
  const [t] = members as [ts.Type];
  if (t.flags & ts.TypeFlags.NumberLike) return { type: 'number' };
  if (t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return {};
  if (checker.isArrayType(t)) {
    const [item] = checker.getTypeArguments(t as ts.TypeReference);
    return { type: 'array', items: item ? convert(item, depth) : {} };
  }
  const symbol = t.getSymbol();
  if (t.aliasSymbol?.name === 'Decimal') return { type: 'string' };
  const root = symbol && rootTypes.get(symbol);
  if (root) return depth === 0 ? objectSchema(t, depth) : { $ref: `#/components/schemas/${root}` };
  if (depth > 0 && isResource(t)) return { type: 'object' };
  if (depth >= MAX_DEPTH) return { type: 'object' };
  return objectSchema(t, depth);
}

function objectSchema(t: ts.Type, depth: number): Schema {
  const index = t.getStringIndexType();
  const props = checker.getPropertiesOfType(t);
  if (index && props.length === 0) {
    return { type: 'object', additionalProperties: convert(index, depth + 1) };
  }
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const p of [...props].sort((a, b) => a.name.localeCompare(b.name))) {
    const declaration = p.valueDeclaration ?? p.declarations?.[0];
    if (!declaration) continue;
    properties[p.name] = convert(checker.getTypeOfSymbolAtLocation(p, declaration), depth + 1);
    if (!(p.flags & ts.SymbolFlags.Optional)) required.push(p.name);
  }
  return { type: 'object', properties, required };
}

const schemas: Record<string, Schema> = {};
for (const [key, [file, name]] of Object.entries(ROOTS)) {
  schemas[key] = convert(exported(file, name), 0);
}
// The error envelope: Stripe's `api_errors`, declared as PaymentIntent.last_payment_error.
const lastError = schemas.payment_intent?.properties?.last_payment_error;
if (!lastError) throw new Error('payment_intent.last_payment_error not found');
const { nullable: _, ...apiErrors } = lastError;
schemas.api_errors = apiErrors;
schemas.error = {
  type: 'object',
  properties: { error: { $ref: '#/components/schemas/api_errors' } },
  required: ['error'],
};

const pkg = JSON.parse(readFileSync(join(stripeDir, 'package.json'), 'utf8')) as {
  version: string;
};
const openapi = readFileSync(join(stripeDir, 'OPENAPI_VERSION'), 'utf8').trim();
const apiVersion = /ApiVersion = '([^']+)'/.exec(
  readFileSync(join(esm, 'apiVersion.js'), 'utf8'),
)?.[1];
const out = {
  info: {
    'x-source': `stripe@${pkg.version} type declarations, generated by Stripe from github.com/stripe/openapi ${openapi} (openapi/spec3.json)`,
    'x-generator': 'scripts/stripe-openapi-subset.ts',
    version: apiVersion,
  },
  components: { schemas },
};
const target = new URL('../test/fixtures/stripe-openapi-subset.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(out, null, 1)}\n`);
console.log(`wrote ${Object.keys(schemas).length} schemas for ${apiVersion} to ${target.pathname}`);
