#!/usr/bin/env node
// The `flowpilot` executable: registers tsx so the TypeScript sources run as they are, then
// hands over to local/cli/main.ts. Lambda-style info logs would mix into stdout (and break
// --json): the CLI keeps warnings and errors only, and they go to stderr. The AWS SDK's
// notice about future Node versions would print on every command: the engines field says it.
import { register } from 'tsx/esm/api';

process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../local/cli/main.ts');
await main();
