import { App, Validations } from 'aws-cdk-lib';

import { buildApp } from '../infra/main.ts';
const app = new App({ outdir: '/tmp/fp12/out' });
buildApp({ app, env: {} });

try { app.synth(); console.log('OK'); } catch (e) { console.log(String((e as Error).message).slice(0, 20000)); }
