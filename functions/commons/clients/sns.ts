import { SNSClient } from '@aws-sdk/client-sns';

// Built once per container; honours AWS_ENDPOINT_URL_SNS locally.
export const snsClient = new SNSClient({});
