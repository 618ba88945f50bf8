import { build } from 'esbuild';
import { FUNCTION_ENTRIES, PROJECT_ROOT } from '../infra/bundling.ts';
import { join } from 'node:path';
for (const [name, entry] of Object.entries(FUNCTION_ENTRIES)) {
  const out = await build({ entryPoints: [join(PROJECT_ROOT, entry)], bundle: true, write: false, format: 'esm', platform: 'node', packages: 'external', logLevel: 'silent' });
  const text = out.outputFiles[0]!.text;
  const cmds = [...text.matchAll(/new (\w+?)Command\d*\(/g)].map(m => m[1]);
  const tx = [...text.matchAll(/\b(Put|Update|Delete|ConditionCheck):\s*\{/g)].map(m => m[1]);
  console.log(name, [...new Set(cmds)].sort().join(','), '| tx', [...new Set(tx)].join(','));
}
