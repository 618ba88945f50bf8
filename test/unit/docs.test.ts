import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configurationDoc, GENERATED, UndescribedKeysError } from '../../scripts/gen-docs.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** Fenced blocks and inline code spans blanked out: links and headings there are text. */
function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/`[^`\n]*`/g, (span) => (span.startsWith('``') ? span : ''));
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** Every anchor a markdown file offers: its headings', numbered as GitHub numbers repeats. */
function anchorsOf(markdown: string): Set<string> {
  const noFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of noFences.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1] ?? '');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Broken relative links and anchors of one file, as `file: target (why)`. */
function brokenLinks(file: string, read: (path: string) => string | undefined): string[] {
  const text = read(file);
  if (text === undefined) return [`${file}: missing`];
  const broken: string[] = [];
  for (const m of prose(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1] ?? '';
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const [path = '', anchor] = target.split('#');
    const into = path === '' ? file : join(dirname(file), decodeURIComponent(path));
    const content = read(into);
    if (content === undefined) {
      broken.push(`${file}: ${target} (no such file)`);
    } else if (anchor !== undefined && into.endsWith('.md') && !anchorsOf(content).has(anchor)) {
      broken.push(`${file}: ${target} (no such heading in ${into})`);
    }
  }
  return broken;
}

function readRepo(path: string): string | undefined {
  const full = join(ROOT, path);
  if (!existsSync(full)) return undefined;
  // A directory is a valid link target (GitHub lists it); it has no headings.
  try {
    return readFileSync(full, 'utf8');
  } catch {
    return '';
  }
}

describe('generated references', () => {
  it.each(Object.keys(GENERATED))('%s is what npm run docs writes today', (path) => {
    const generate = GENERATED[path];
    if (!generate) throw new Error(`no generator for ${path}`);
    // Stale means someone changed the schema or a command's help: `npm run docs`.
    expect(readRepo(path), `${path} is stale: run npm run docs`).toBe(generate());
  });

  it('refuses a configuration key without a description', () => {
    const schema = z.strictObject({
      section: z
        .strictObject({ said: z.int().default(1).describe('Said.'), unsaid: z.boolean() })
        .prefault({ unsaid: true })
        .describe('A section.'),
    });
    expect(() => configurationDoc(schema)).toThrow(UndescribedKeysError);
    expect(() => configurationDoc(schema)).toThrow(/section\.unsaid/);
  });

  it('lists every key with its type, default and limits', () => {
    const doc = configurationDoc(
      z.strictObject({
        section: z
          .strictObject({
            level: z.int().min(1).max(9).default(3).describe('How loud.'),
            mode: z.enum(['a', 'b']).optional().describe('Which mode.'),
          })
          .prefault({})
          .describe('A section.'),
      }),
    );
    expect(doc).toContain('| `section.level` | integer | `3` | 1–9 | How loud. |');
    expect(doc).toContain('| `section.mode` | string | unset | `"a"`, `"b"` | Which mode. |');
  });

  it("goes into a union's objects and asks each key for a description", () => {
    const member = (kind: string) =>
      z.strictObject({
        kind: z.literal(kind).describe('Which kind.'),
        size: z.int().optional().describe('How big.'),
      });
    const schema = (last: z.ZodType) =>
      z.strictObject({
        section: z
          .strictObject({
            pick: z
              .union([member('a'), last])
              .optional()
              .describe('One of.'),
          })
          .prefault({})
          .describe('A section.'),
      });
    const doc = configurationDoc(schema(member('b')));
    expect(doc.match(/`section\.pick\.size`/g)).toHaveLength(1);
    const undescribed = z.strictObject({ kind: z.literal('c'), other: z.boolean() });
    expect(() => configurationDoc(schema(undescribed))).toThrow(/section\.pick\.other/);
  });
});

describe('links in README.md and docs/', () => {
  it('finds a broken file, a broken anchor, and no link inside code', () => {
    const files: Record<string, string> = {
      'a.md': [
        '# Top',
        '## Auto top-up (`npm start`)',
        '## Top',
        '[ok](b.md#the-part) [ok](#auto-top-up-npm-start) [ok](#top-1)',
        '[bad](c.md) [bad](b.md#nothing) [bad](#top-2)',
        '`[code](nowhere.md)`',
        '```',
        '[fenced](nowhere.md)',
        '```',
      ].join('\n'),
      'b.md': '# The part\n',
    };
    expect(brokenLinks('a.md', (p) => files[p])).toEqual([
      'a.md: c.md (no such file)',
      'a.md: b.md#nothing (no such heading in b.md)',
      'a.md: #top-2 (no such heading in a.md)',
    ]);
  });

  it('has none broken', () => {
    const docs = readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => relative(ROOT, join(ROOT, 'docs', f)));
    const broken = ['README.md', ...docs].flatMap((f) => brokenLinks(f, readRepo));
    expect(broken).toEqual([]);
  });
});
