// The AWS SDK for JavaScript v3 Firehose client, unmodified, against a Runnel endpoint with Direct PUT intake:
// RUNNEL_ENDPOINT=http://127.0.0.1:PORT, FIREHOSE_NAME (the delivery stream to create) and FIREHOSE_BUCKET (its
// destination bucket, which the caller creates and reads back). Tests run in file order and share the delivery stream.
// The stream is left in place: the caller waits for the delivered object, checks its bytes, then deletes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FirehoseClient,
  CreateDeliveryStreamCommand,
  DescribeDeliveryStreamCommand,
  ListDeliveryStreamsCommand,
  PutRecordCommand,
  PutRecordBatchCommand,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-firehose';
import { clientOptions, requireEnv } from './support.mjs';

const { FIREHOSE_NAME: name, FIREHOSE_BUCKET: bucket } = requireEnv('RUNNEL_ENDPOINT', 'FIREHOSE_NAME', 'FIREHOSE_BUCKET');
const client = new FirehoseClient(clientOptions({ maxAttempts: 3 }));

const encoder = new TextEncoder();
const destination = {
  RoleARN: 'arn:aws:iam::000000000000:role/firehose',
  BucketARN: `arn:aws:s3:::${bucket}`,
  Prefix: 'js/',
  // 60 s or 1 MiB: the four records below go out together in one object.
  BufferingHints: { SizeInMBs: 1, IntervalInSeconds: 60 },
};

test('CreateDeliveryStream answers an ARN and the stream becomes ACTIVE', async () => {
  const created = await client.send(new CreateDeliveryStreamCommand({
    DeliveryStreamName: name,
    DeliveryStreamType: 'DirectPut',
    ExtendedS3DestinationConfiguration: destination,
  }));
  assert.match(created.DeliveryStreamARN, new RegExp(`:deliverystream/${name}$`));

  const deadline = Date.now() + 30000;
  let description;
  do {
    description = (await client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: name }))).DeliveryStreamDescription;
    if (description.DeliveryStreamStatus === 'ACTIVE') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  } while (Date.now() < deadline);
  assert.equal(description.DeliveryStreamStatus, 'ACTIVE');
  assert.equal(description.DeliveryStreamType, 'DirectPut');
  assert.equal(description.Destinations.length, 1);
  const s3 = description.Destinations[0].ExtendedS3DestinationDescription;
  assert.equal(s3.BucketARN, destination.BucketARN);
  assert.equal(s3.Prefix, 'js/');
  assert.deepEqual(s3.BufferingHints, destination.BufferingHints);
});

test('a second CreateDeliveryStream of the same name is ResourceInUseException', async () => {
  await assert.rejects(
    client.send(new CreateDeliveryStreamCommand({ DeliveryStreamName: name, ExtendedS3DestinationConfiguration: destination })),
    (e) => e instanceof ResourceInUseException && e.$metadata.httpStatusCode === 400);
});

test('PutRecordBatch and PutRecord answer a record id for every record', async () => {
  const batch = await client.send(new PutRecordBatchCommand({
    DeliveryStreamName: name,
    Records: ['one;', 'two;', 'three;'].map((text) => ({ Data: encoder.encode(text) })),
  }));
  assert.equal(batch.FailedPutCount, 0);
  assert.equal(batch.RequestResponses.length, 3);
  for (const response of batch.RequestResponses) {
    assert.ok(response.RecordId, JSON.stringify(response));
    assert.equal(response.ErrorCode, undefined);
  }

  const single = await client.send(new PutRecordCommand({ DeliveryStreamName: name, Record: { Data: encoder.encode('four;') } }));
  assert.ok(single.RecordId);
});

test('ListDeliveryStreams lists the stream under its type', async () => {
  const listed = await client.send(new ListDeliveryStreamsCommand({ DeliveryStreamType: 'DirectPut', Limit: 10000 }));
  assert.ok(listed.DeliveryStreamNames.includes(name), JSON.stringify(listed.DeliveryStreamNames));
  assert.equal(typeof listed.HasMoreDeliveryStreams, 'boolean');
});

test('an unknown delivery stream is ResourceNotFoundException', async () => {
  const missing = `${name}-missing`;
  await assert.rejects(
    client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: missing })),
    (e) => e instanceof ResourceNotFoundException && e.$metadata.httpStatusCode === 400);
  await assert.rejects(
    client.send(new PutRecordCommand({ DeliveryStreamName: missing, Record: { Data: encoder.encode('x') } })),
    (e) => e instanceof ResourceNotFoundException);
});
