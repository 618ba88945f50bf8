import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cdkJsonContext } from './assembly.ts';

const recommended = JSON.parse(
  readFileSync(
    createRequire(import.meta.url).resolve('aws-cdk-lib/recommended-feature-flags.json'),
    'utf8',
  ),
) as Record<string, unknown>;

describe('cdk.json', () => {
  it('sets every feature flag aws-cdk-lib recommends for a new app, so synth reports none unset', () => {
    const context = cdkJsonContext();
    const unset = Object.keys(recommended).filter((flag) => !(flag in context));
    expect(unset).toEqual([]);
  });
});
