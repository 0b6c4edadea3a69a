// Stream resource policies through the AWS SDK for JavaScript v3, against a Runnel endpoint with
// Security:Authentication=SigV4. RUNNEL_ACCESS_KEY_ID / RUNNEL_SECRET_ACCESS_KEY is an administrator key;
// RUNNEL_READER_KEY_ID / RUNNEL_READER_SECRET a key without any identity policy whose principal is RUNNEL_READER_ARN;
// RUNNEL_STREAM an existing stream with one record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  KinesisClient, DescribeStreamSummaryCommand, GetRecordsCommand, GetShardIteratorCommand,
  PutResourcePolicyCommand, GetResourcePolicyCommand, DeleteResourcePolicyCommand,
} from '@aws-sdk/client-kinesis';

const { RUNNEL_ENDPOINT: endpoint, RUNNEL_ACCESS_KEY_ID: accessKeyId, RUNNEL_SECRET_ACCESS_KEY: secretAccessKey,
  RUNNEL_READER_KEY_ID: readerId, RUNNEL_READER_SECRET: readerSecret, RUNNEL_READER_ARN: readerArn,
  RUNNEL_STREAM: stream } = process.env;
if (!endpoint || !accessKeyId || !secretAccessKey || !readerId || !readerSecret || !readerArn || !stream) {
  throw new Error('Set RUNNEL_ENDPOINT, RUNNEL_ACCESS_KEY_ID, RUNNEL_SECRET_ACCESS_KEY, RUNNEL_READER_KEY_ID, RUNNEL_READER_SECRET, RUNNEL_READER_ARN and RUNNEL_STREAM.');
}

const client = (credentials) => new KinesisClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
const admin = client({ accessKeyId, secretAccessKey });
const reader = client({ accessKeyId: readerId, secretAccessKey: readerSecret });

const refusal = async (promise) => {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('the call succeeded');
};

const readAll = async () => {
  const { ShardIterator } = await reader.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }));
  return (await reader.send(new GetRecordsCommand({ ShardIterator }))).Records;
};

test('a stream policy grants a key without an identity policy, and deleting it takes the grant away', async () => {
  const { StreamDescriptionSummary: { StreamARN } } = await admin.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
  assert.equal((await refusal(readAll())).name, 'AccessDeniedException');

  const Policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: readerArn }, Action: ['kinesis:GetShardIterator', 'kinesis:GetRecords'], Resource: StreamARN }],
  });
  await admin.send(new PutResourcePolicyCommand({ ResourceARN: StreamARN, Policy }));
  assert.equal((await admin.send(new GetResourcePolicyCommand({ ResourceARN: StreamARN }))).Policy, Policy);
  const records = await readAll();
  assert.equal(records.length, 1);
  assert.equal(new TextDecoder().decode(records[0].Data), 'policy');

  await admin.send(new DeleteResourcePolicyCommand({ ResourceARN: StreamARN }));
  assert.equal((await admin.send(new GetResourcePolicyCommand({ ResourceARN: StreamARN }))).Policy, '{}');
  assert.equal((await refusal(readAll())).name, 'AccessDeniedException');
});

test('a malformed policy is InvalidArgumentException and an unknown stream ResourceNotFoundException', async () => {
  const { StreamDescriptionSummary: { StreamARN } } = await admin.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
  const malformed = await refusal(admin.send(new PutResourcePolicyCommand({ ResourceARN: StreamARN, Policy: '{"Statement":' })));
  assert.equal(malformed.name, 'InvalidArgumentException');
  assert.equal(malformed.$metadata.httpStatusCode, 400);
  const unknown = await refusal(admin.send(new GetResourcePolicyCommand({ ResourceARN: `${StreamARN}-missing` })));
  assert.equal(unknown.name, 'ResourceNotFoundException');
});
