// The AWS SDK for JavaScript v3, unmodified, against a Runnel endpoint: RUNNEL_ENDPOINT=http://127.0.0.1:PORT.
// The Kinesis client's default handler speaks HTTP/2 for every operation, cleartext with prior
// knowledge on an http:// endpoint, while the AWS CLI speaks HTTP/1.1: the endpoint serves both on
// one port. Tests run in file order and share one stream, as a user session would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  KinesisClient,
  CreateStreamCommand,
  DescribeStreamCommand,
  DescribeStreamSummaryCommand,
  PutRecordCommand,
  PutRecordsCommand,
  GetShardIteratorCommand,
  GetRecordsCommand,
  ListStreamsCommand,
  ListShardsCommand,
  AddTagsToStreamCommand,
  ListTagsForStreamCommand,
  RemoveTagsFromStreamCommand,
  IncreaseStreamRetentionPeriodCommand,
  DecreaseStreamRetentionPeriodCommand,
  DeleteStreamCommand,
  SplitShardCommand,
  MergeShardsCommand,
  UpdateShardCountCommand,
  UpdateStreamModeCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { clientOptions, uniqueName, waitFor } from './support.mjs';

const client = new KinesisClient(clientOptions());

const streamName = uniqueName('js-sdk');
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (record) => decoder.decode(record.Data);
const sent = []; // { shardId, sequenceNumber, data }


async function iterator(shardId, type, extra = {}) {
  const out = await client.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: type, ...extra }));
  assert.equal(typeof out.ShardIterator, 'string');
  assert.ok(out.ShardIterator.length > 0 && out.ShardIterator.length <= 512);
  return out.ShardIterator;
}

// Reads from an iterator until a call returns nothing more and the reader is at the tip.
async function drain(shardIterator) {
  const records = [];
  for (let i = 0; i < 50 && shardIterator; i++) {
    const out = await client.send(new GetRecordsCommand({ ShardIterator: shardIterator, Limit: 1000 }));
    records.push(...out.Records);
    assert.equal(typeof out.MillisBehindLatest, 'number');
    shardIterator = out.NextShardIterator;
    if (out.Records.length === 0 && out.MillisBehindLatest === 0) break;
  }
  return records;
}

test('CreateStream makes an ACTIVE stream with the requested shards', async () => {
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 2 }));
  const summary = await waitFor('ACTIVE', async () => {
    const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    return out.StreamDescriptionSummary.StreamStatus === 'ACTIVE' ? out.StreamDescriptionSummary : null;
  });
  assert.equal(summary.StreamName, streamName);
  assert.equal(summary.OpenShardCount, 2);
  assert.equal(summary.RetentionPeriodHours, 24);
  assert.match(summary.StreamARN, new RegExp(`^arn:aws:kinesis:us-east-1:\\d{12}:stream/${streamName}$`));
  assert.ok(summary.StreamCreationTimestamp instanceof Date);

  const described = await client.send(new DescribeStreamCommand({ StreamName: streamName }));
  const shards = described.StreamDescription.Shards;
  assert.deepEqual(shards.map((s) => s.ShardId), ['shardId-000000000000', 'shardId-000000000001']);
  assert.equal(shards[0].HashKeyRange.StartingHashKey, '0');
  assert.equal(shards[1].HashKeyRange.EndingHashKey, (2n ** 128n - 1n).toString());
  assert.equal(described.StreamDescription.HasMoreShards, false);
});

test('PutRecord answers a shard id and a numeric sequence number', async () => {
  const out = await client.send(new PutRecordCommand({ StreamName: streamName, PartitionKey: 'user1', Data: encoder.encode('user signup') }));
  assert.match(out.ShardId, /^shardId-00000000000[01]$/);
  assert.match(out.SequenceNumber, /^[1-9]\d*$/);
  sent.push({ shardId: out.ShardId, sequenceNumber: out.SequenceNumber, data: 'user signup', partitionKey: 'user1' });
});

test('PutRecords stores a batch in order per shard', async () => {
  const entries = Array.from({ length: 20 }, (_, i) => ({ PartitionKey: `key-${i % 7}`, Data: encoder.encode(`batch-${i}`) }));
  const out = await client.send(new PutRecordsCommand({ StreamName: streamName, Records: entries }));
  assert.equal(out.FailedRecordCount, 0);
  assert.equal(out.Records.length, 20);
  out.Records.forEach((r, i) => {
    assert.match(r.SequenceNumber, /^[1-9]\d*$/);
    sent.push({ shardId: r.ShardId, sequenceNumber: r.SequenceNumber, data: `batch-${i}`, partitionKey: entries[i].PartitionKey });
  });
  // Within one shard, later entries of the batch got larger sequence numbers.
  for (const shard of new Set(out.Records.map((r) => r.ShardId))) {
    const seqs = out.Records.filter((r) => r.ShardId === shard).map((r) => BigInt(r.SequenceNumber));
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1]);
  }
});

test('TRIM_HORIZON reads back every record with its data, key and sequence number', async () => {
  for (const shardId of ['shardId-000000000000', 'shardId-000000000001']) {
    const records = await drain(await iterator(shardId, 'TRIM_HORIZON'));
    const expected = sent.filter((s) => s.shardId === shardId);
    assert.deepEqual(records.map((r) => r.SequenceNumber), expected.map((e) => e.sequenceNumber));
    assert.deepEqual(records.map(text), expected.map((e) => e.data));
    assert.deepEqual(records.map((r) => r.PartitionKey), expected.map((e) => e.partitionKey));
    for (const r of records) assert.ok(r.ApproximateArrivalTimestamp instanceof Date);
  }
});

test('AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER start at and after a record', async () => {
  const shardId = sent[0].shardId;
  const onShard = sent.filter((s) => s.shardId === shardId);
  assert.ok(onShard.length >= 2, 'the test needs two records on one shard');
  const target = onShard[1];

  const at = await client.send(new GetRecordsCommand({
    ShardIterator: await iterator(shardId, 'AT_SEQUENCE_NUMBER', { StartingSequenceNumber: target.sequenceNumber }),
  }));
  assert.equal(at.Records[0].SequenceNumber, target.sequenceNumber);
  assert.equal(text(at.Records[0]), target.data);

  const after = await client.send(new GetRecordsCommand({
    ShardIterator: await iterator(shardId, 'AFTER_SEQUENCE_NUMBER', { StartingSequenceNumber: target.sequenceNumber }),
  }));
  assert.deepEqual(after.Records.map((r) => r.SequenceNumber), onShard.slice(2).map((e) => e.sequenceNumber));
});

test('LATEST sees only records put after it was taken', async () => {
  const shardId = 'shardId-000000000000';
  const latest = await iterator(shardId, 'LATEST');
  const empty = await client.send(new GetRecordsCommand({ ShardIterator: latest }));
  assert.equal(empty.Records.length, 0);
  assert.equal(typeof empty.NextShardIterator, 'string');

  // An explicit hash key of 0 always lands on the first shard.
  const put = await client.send(new PutRecordCommand({ StreamName: streamName, PartitionKey: 'any', ExplicitHashKey: '0', Data: encoder.encode('after-latest') }));
  assert.equal(put.ShardId, shardId);
  sent.push({ shardId, sequenceNumber: put.SequenceNumber, data: 'after-latest', partitionKey: 'any' });

  const records = await drain(empty.NextShardIterator);
  assert.deepEqual(records.map(text), ['after-latest']);
});

test('AT_TIMESTAMP reads from the first record at or after a time', async () => {
  const shardId = 'shardId-000000000000';
  const fromStart = await drain(await iterator(shardId, 'AT_TIMESTAMP', { Timestamp: new Date(Date.now() - 3600_000) }));
  assert.deepEqual(fromStart.map((r) => r.SequenceNumber), sent.filter((s) => s.shardId === shardId).map((s) => s.sequenceNumber));

  // AWS refuses a time after its own clock rather than waiting for it.
  await assert.rejects(
    iterator(shardId, 'AT_TIMESTAMP', { Timestamp: new Date(Date.now() + 3600_000) }),
    (e) => e.name === 'InvalidArgumentException' && e.message.startsWith('The timestampInMillis parameter cannot be greater than the currentTimestampInMillis.'),
  );
});

test('ListStreams and ListShards show the stream and its shards', async () => {
  const names = [];
  let token;
  for (let page = 0; page < 100; page++) {
    const out = await client.send(new ListStreamsCommand(token ? { NextToken: token } : { Limit: 100 }));
    names.push(...out.StreamNames);
    if (!out.HasMoreStreams) break;
    token = out.NextToken;
  }
  assert.ok(names.includes(streamName));

  const shards = await client.send(new ListShardsCommand({ StreamName: streamName }));
  assert.deepEqual(shards.Shards.map((s) => s.ShardId), ['shardId-000000000000', 'shardId-000000000001']);
  for (const s of shards.Shards) assert.match(s.SequenceNumberRange.StartingSequenceNumber, /^\d+$/);
});

test('Tags are added, listed and removed', async () => {
  await client.send(new AddTagsToStreamCommand({ StreamName: streamName, Tags: { team: 'data', env: 'test' } }));
  const listed = await client.send(new ListTagsForStreamCommand({ StreamName: streamName }));
  assert.deepEqual(listed.Tags.map((t) => `${t.Key}=${t.Value}`).sort(), ['env=test', 'team=data']);
  assert.equal(listed.HasMoreTags, false);

  await client.send(new RemoveTagsFromStreamCommand({ StreamName: streamName, TagKeys: ['env'] }));
  const after = await client.send(new ListTagsForStreamCommand({ StreamName: streamName }));
  assert.deepEqual(after.Tags.map((t) => t.Key), ['team']);
});

test('Retention is increased and decreased', async () => {
  await client.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: streamName, RetentionPeriodHours: 48 }));
  const up = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
  assert.equal(up.StreamDescriptionSummary.RetentionPeriodHours, 48);

  await client.send(new DecreaseStreamRetentionPeriodCommand({ StreamName: streamName, RetentionPeriodHours: 24 }));
  const down = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
  assert.equal(down.StreamDescriptionSummary.RetentionPeriodHours, 24);
});

test('SplitShard, MergeShards and UpdateShardCount reshard with lineage; UpdateStreamMode switches the mode', async () => {
  const active = () => waitFor('ACTIVE', async () => {
    const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    return out.StreamDescriptionSummary.StreamStatus === 'ACTIVE' ? out.StreamDescriptionSummary : null;
  });
  await client.send(new SplitShardCommand({ StreamName: streamName, ShardToSplit: 'shardId-000000000000', NewStartingHashKey: (2n ** 126n).toString() }));
  await active();

  // Read to the end of the parent: no next iterator, and the children in ChildShards.
  let shardIterator = await iterator('shardId-000000000000', 'TRIM_HORIZON');
  let last;
  for (let i = 0; i < 50 && shardIterator; i++) {
    last = await client.send(new GetRecordsCommand({ ShardIterator: shardIterator }));
    shardIterator = last.NextShardIterator;
  }
  assert.equal(shardIterator, undefined);
  assert.deepEqual(last.ChildShards.map((c) => c.ShardId), ['shardId-000000000002', 'shardId-000000000003']);
  assert.deepEqual(last.ChildShards[0].ParentShards, ['shardId-000000000000']);

  await client.send(new MergeShardsCommand({ StreamName: streamName, ShardToMerge: 'shardId-000000000002', AdjacentShardToMerge: 'shardId-000000000003' }));
  await active();
  const shards = (await client.send(new ListShardsCommand({ StreamName: streamName }))).Shards;
  const merged = shards.find((s) => s.ShardId === 'shardId-000000000004');
  assert.equal(merged.ParentShardId, 'shardId-000000000002');
  assert.equal(merged.AdjacentParentShardId, 'shardId-000000000003');
  assert.match(shards.find((s) => s.ShardId === 'shardId-000000000000').SequenceNumberRange.EndingSequenceNumber, /^\d+$/);

  const scaled = await client.send(new UpdateShardCountCommand({ StreamName: streamName, TargetShardCount: 4, ScalingType: 'UNIFORM_SCALING' }));
  assert.equal(scaled.CurrentShardCount, 2);
  assert.equal(scaled.TargetShardCount, 4);
  const summary = await active();
  assert.equal(summary.OpenShardCount, 4);

  await client.send(new UpdateStreamModeCommand({ StreamARN: summary.StreamARN, StreamModeDetails: { StreamMode: 'ON_DEMAND' } }));
  const onDemand = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
  assert.equal(onDemand.StreamDescriptionSummary.StreamModeDetails.StreamMode, 'ON_DEMAND');
  await client.send(new UpdateStreamModeCommand({ StreamARN: summary.StreamARN, StreamModeDetails: { StreamMode: 'PROVISIONED' } }));
});

test('DeleteStream removes the stream', async () => {
  await client.send(new DeleteStreamCommand({ StreamName: streamName }));
  await waitFor('the stream to disappear', async () => {
    try {
      await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
      return false;
    } catch (e) {
      if (e instanceof ResourceNotFoundException) return true;
      throw e;
    }
  });
  await assert.rejects(
    client.send(new PutRecordCommand({ StreamName: streamName, PartitionKey: 'k', Data: encoder.encode('x') })),
    (e) => e.name === 'ResourceNotFoundException',
  );
});
