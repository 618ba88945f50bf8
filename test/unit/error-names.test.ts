import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/bundling.ts';
import { tsSources } from '../helpers/sources.ts';

/**
 * The Lambda bundles are minified without keepNames, so an error class's constructor name
 * reads `Cr` there; every error class under functions/ names itself with a literal instead,
 * or logs and alerts would say `Cr: …`.
 */
const FUNCTIONS = join(PROJECT_ROOT, 'functions');
const CLASS = /^\s*(?:export\s+)?class\s+(\w+)\s+extends\s+([\w.]+)\s*\{/gm;

interface Declared {
  name: string;
  base: string;
  file: string;
  body: string;
}

function declaredClasses(): Declared[] {
  return tsSources(FUNCTIONS).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    return [...text.matchAll(CLASS)].map((m) => ({
      name: m[1] ?? '',
      base: m[2] ?? '',
      file: relative(PROJECT_ROOT, file),
      // Up to the next class declaration: enough to find the class's own fields.
      body: text.slice((m.index ?? 0) + m[0].length).split(/\n(?:export\s+)?class\s/)[0] ?? '',
    }));
  });
}

describe('error class names', () => {
  const classes = declaredClasses();
  // An error class extends Error or another error class, however deep.
  const errors = new Set(['Error']);
  for (let grew = true; grew; ) {
    grew = false;
    for (const c of classes) {
      if (!errors.has(c.name) && errors.has(c.base)) {
        errors.add(c.name);
        grew = true;
      }
    }
  }
  const errorClasses = classes.filter((c) => errors.has(c.name));

  it('finds the error classes it checks', () => {
    expect(errorClasses.map((c) => c.name)).toEqual(
      expect.arrayContaining(['FlowPilotError', 'ConfigError', 'UpstreamAuthError', 'ShapeError']),
    );
  });

  it.each(errorClasses.map((c) => [c.name, c]))('%s names itself with a literal', (name, c) => {
    expect(c.body, `${c.file}: add \`override name = '${name}';\``).toContain(
      `override name = '${name}';`,
    );
  });
});
