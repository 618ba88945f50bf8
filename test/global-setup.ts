import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../scripts/dynamodb-local.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}

/** One DynamoDB Local for the whole run; each test file makes its own tables in it. */
export default async function setup(project: TestProject) {
  const ddb = await startDynamoDbLocal();
  project.provide('dynamoEndpoint', ddb.endpoint);
  return () => ddb.stop();
}
