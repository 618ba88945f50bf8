import { readFileSync } from 'node:fs';

/**
 * Checks a JSON value against a schema of test/fixtures/stripe-openapi-subset.json (Stripe's
 * schemas for the pinned API version): required fields, types, enums, nullable, `anyOf`,
 * `$ref`. A field the schema does not list is a problem too: Stripe would not send it.
 */

type Schema = {
  type?: 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';
  nullable?: boolean;
  enum?: string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema;
  items?: Schema;
  anyOf?: Schema[];
  $ref?: string;
};

const spec = JSON.parse(
  readFileSync(new URL('../fixtures/stripe-openapi-subset.json', import.meta.url), 'utf8'),
) as { components: { schemas: Record<string, Schema> } };

/** The fields schema `name` requires. */
export const stripeSchemaRequired = (name: string) => spec.components.schemas[name]?.required ?? [];

function resolve(s: Schema): Schema {
  if (!s.$ref) return s;
  const name = s.$ref.replace('#/components/schemas/', '');
  const found = spec.components.schemas[name];
  if (!found) throw new Error(`no schema ${name}`);
  return found;
}

function problems(value: unknown, schema: Schema, at: string): string[] {
  const s = resolve(schema);
  if (value === null) return s.nullable ? [] : [`${at}: null, not nullable`];
  if (s.anyOf) {
    const branches = s.anyOf.map((b) => problems(value, b, at));
    return branches.some((b) => b.length === 0) ? [] : (branches[0] ?? []);
  }
  const kind = Array.isArray(value) ? 'array' : typeof value;
  switch (s.type) {
    case undefined:
      return [];
    case 'integer':
      return Number.isInteger(value) ? [] : [`${at}: ${JSON.stringify(value)} is not an integer`];
    case 'number':
    case 'string':
    case 'boolean':
      if (kind !== s.type) return [`${at}: ${kind}, expected ${s.type}`];
      if (s.enum && !s.enum.includes(value as string)) {
        return [`${at}: ${JSON.stringify(value)} not one of ${s.enum.join(', ')}`];
      }
      return [];
    case 'array':
      if (kind !== 'array') return [`${at}: ${kind}, expected array`];
      return (value as unknown[]).flatMap((v, i) => problems(v, s.items ?? {}, `${at}[${i}]`));
    case 'object': {
      if (kind !== 'object') return [`${at}: ${kind}, expected object`];
      const o = value as Record<string, unknown>;
      const out = (s.required ?? [])
        .filter((k) => !(k in o))
        .map((k) => `${at}.${k}: required, missing`);
      const props = s.properties ?? {};
      // An empty property list is an open object (the SDK's `Event.Data.Object`).
      const open = Object.keys(props).length === 0;
      for (const [k, v] of Object.entries(o)) {
        const sub = props[k] ?? s.additionalProperties;
        if (sub) out.push(...problems(v, sub, `${at}.${k}`));
        else if (!open) out.push(`${at}.${k}: not in Stripe's schema`);
      }
      return out;
    }
  }
}

/** Every way `value` departs from Stripe's schema `name`; empty when it conforms. */
export function stripeSchemaProblems(value: unknown, name: string): string[] {
  return problems(value, { $ref: `#/components/schemas/${name}` }, name);
}
