import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Document client options shared by the module-scope client and the ones tests build. */
export const TRANSLATE_CONFIG = {
  marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  unmarshallOptions: { wrapNumbers: false },
} as const;

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, TRANSLATE_CONFIG);
}

// Built once per container so warm invocations reuse connections. The SDK honours
// AWS_ENDPOINT_URL_DYNAMODB, which is how the local runtime points it elsewhere.
export const dynamoClient = new DynamoDBClient({});
export const docClient = documentClient(dynamoClient);
