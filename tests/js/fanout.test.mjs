// Enhanced fan-out with the unmodified AWS SDK for JavaScript v3 against RUNNEL_ENDPOINT: consumer registration,
// SubscribeToShard over HTTP/2 (event-stream framing) from every starting position, two consumers on one shard,
// and the ResourceInUse rule for a second subscription. Tests share one stream, in file order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  KinesisClient,
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  PutRecordCommand,
  DeleteStreamCommand,
  RegisterStreamConsumerCommand,
  DescribeStreamConsumerCommand,
  ListStreamConsumersCommand,
  DeregisterStreamConsumerCommand,
  SubscribeToShardCommand,
  SplitShardCommand,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { clientOptions, uniqueName, waitFor } from './support.mjs';

const client = new KinesisClient(clientOptions());

const streamName = uniqueName('js-fanout');
const shardId = 'shardId-000000000000';
const encoder = new TextEncoder();
const decoder = new TextDecoder();
let streamArn;
const consumers = {};
const before = []; // records put before any subscription: { seq, data }


async function put(data) {
  const out = await client.send(new PutRecordCommand({ StreamName: streamName, PartitionKey: 'pk', Data: encoder.encode(data) }));
  return { seq: out.SequenceNumber, data };
}

// Subscribes and collects records until `until(records)` holds (or the time runs out), then ends the subscription.
async function collect(consumerArn, startingPosition, until, { timeoutMs = 15000, onStarted } = {}) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const records = [];
  const events = [];
  try {
    const out = await client.send(new SubscribeToShardCommand({ ConsumerARN: consumerArn, ShardId: shardId, StartingPosition: startingPosition }), { abortSignal: abort.signal });
    if (onStarted) await onStarted();
    for await (const event of out.EventStream) {
      if (!event.SubscribeToShardEvent) continue;
      events.push(event.SubscribeToShardEvent);
      for (const r of event.SubscribeToShardEvent.Records) records.push({ seq: r.SequenceNumber, data: decoder.decode(r.Data) });
      if (until(records)) break;
    }
  } catch (e) {
    if (!abort.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return { records, events };
}

test('create a stream and put records before subscribing', async () => {
  await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 1 }));
  const summary = await waitFor('ACTIVE', async () => {
    const s = (await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }))).StreamDescriptionSummary;
    return s.StreamStatus === 'ACTIVE' ? s : null;
  });
  streamArn = summary.StreamARN;
  for (let i = 0; i < 3; i++) before.push(await put(`before-${i}`));
});

test('register, describe and list consumers (CREATING then ACTIVE)', async () => {
  for (const name of ['alpha', 'beta']) {
    const out = await client.send(new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: name }));
    assert.equal(out.Consumer.ConsumerName, name);
    assert.equal(out.Consumer.ConsumerStatus, 'CREATING');
    assert.ok(out.Consumer.ConsumerARN.startsWith(`${streamArn}/consumer/${name}:`));
    assert.ok(out.Consumer.ConsumerCreationTimestamp instanceof Date);
    consumers[name] = out.Consumer.ConsumerARN;
  }
  await assert.rejects(
    client.send(new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: 'alpha' })),
    (e) => e instanceof ResourceInUseException);
  const described = await waitFor('consumer ACTIVE', async () => {
    const d = (await client.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumers.alpha }))).ConsumerDescription;
    return d.ConsumerStatus === 'ACTIVE' ? d : null;
  });
  assert.equal(described.StreamARN, streamArn);
  const byName = (await client.send(new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: 'beta' }))).ConsumerDescription;
  assert.equal(byName.ConsumerARN, consumers.beta);
  const listed = await client.send(new ListStreamConsumersCommand({ StreamARN: streamArn }));
  assert.deepEqual(listed.Consumers.map((c) => c.ConsumerName).sort(), ['alpha', 'beta']);
  const page = await client.send(new ListStreamConsumersCommand({ StreamARN: streamArn, MaxResults: 1 }));
  assert.equal(page.Consumers.length, 1);
  assert.ok(page.NextToken);
  const rest = await client.send(new ListStreamConsumersCommand({ StreamARN: streamArn, NextToken: page.NextToken }));
  assert.equal(rest.Consumers.length, 1);
  assert.notEqual(rest.Consumers[0].ConsumerName, page.Consumers[0].ConsumerName);
});

test('TRIM_HORIZON delivers records put before and after the subscription, in order', async () => {
  const after = [];
  const { records } = await collect(consumers.alpha, { Type: 'TRIM_HORIZON' }, (rs) => rs.length >= 5, {
    onStarted: async () => { after.push(await put('after-0'), await put('after-1')); },
  });
  assert.deepEqual(records.map((r) => r.data), [...before, ...after].map((r) => r.data));
  assert.deepEqual(records.map((r) => r.seq), [...before, ...after].map((r) => r.seq));
});

test('LATEST delivers only records put after the subscription', async () => {
  const after = [];
  const { records } = await collect(consumers.beta, { Type: 'LATEST' }, (rs) => rs.length >= 1, {
    onStarted: async () => { after.push(await put('latest-0')); },
  });
  assert.deepEqual(records.map((r) => r.data), after.map((r) => r.data));
});

test('AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER and AT_TIMESTAMP start where asked', async () => {
  // Distinct subscriptions of one consumer to one shard must be 5 s apart (the ResourceInUse rule), so each
  // position uses its own consumer.
  for (const name of ['gamma', 'delta', 'epsilon']) {
    consumers[name] = (await client.send(new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: name }))).Consumer.ConsumerARN;
  }
  await waitFor('consumers ACTIVE', async () => {
    for (const name of ['gamma', 'delta', 'epsilon']) {
      const d = (await client.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumers[name] }))).ConsumerDescription;
      if (d.ConsumerStatus !== 'ACTIVE') return false;
    }
    return true;
  });
  const at = await collect(consumers.gamma, { Type: 'AT_SEQUENCE_NUMBER', SequenceNumber: before[1].seq }, (rs) => rs.length >= 2);
  assert.deepEqual(at.records.slice(0, 2).map((r) => r.data), ['before-1', 'before-2']);
  const afterSeq = await collect(consumers.delta, { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: before[1].seq }, (rs) => rs.length >= 1);
  assert.equal(afterSeq.records[0].data, 'before-2');
  const ts = await collect(consumers.epsilon, { Type: 'AT_TIMESTAMP', Timestamp: new Date(Date.now() + 60_000) }, (rs) => rs.length >= 1, {
    onStarted: async () => { await new Promise((r) => setTimeout(r, 10)); },
    timeoutMs: 2000,
  });
  assert.equal(ts.records.length, 0, 'a timestamp in the future starts after every record');
});

test('two consumers on one shard each receive every new record', async () => {
  await new Promise((r) => setTimeout(r, 5200)); // past the takeover window of the earlier subscriptions
  const fresh = [];
  const a = collect(consumers.alpha, { Type: 'LATEST' }, (rs) => rs.length >= 3);
  const b = collect(consumers.beta, { Type: 'LATEST' }, (rs) => rs.length >= 3);
  // Each subscription is open once its initial event arrived; give both a moment, then put.
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < 3; i++) fresh.push(await put(`both-${i}`));
  const [ra, rb] = await Promise.all([a, b]);
  assert.deepEqual(ra.records.map((r) => r.data), fresh.map((r) => r.data));
  assert.deepEqual(rb.records.map((r) => r.data), fresh.map((r) => r.data));
});

test('a second subscription within 5 seconds is refused with ResourceInUseException', async () => {
  await new Promise((r) => setTimeout(r, 5200));
  const abort = new AbortController();
  try {
    const first = await client.send(new SubscribeToShardCommand({ ConsumerARN: consumers.gamma, ShardId: shardId, StartingPosition: { Type: 'LATEST' } }), { abortSignal: abort.signal });
    await assert.rejects(
      client.send(new SubscribeToShardCommand({ ConsumerARN: consumers.gamma, ShardId: shardId, StartingPosition: { Type: 'LATEST' } })),
      (e) => e instanceof ResourceInUseException);
    void first;
  } finally {
    abort.abort();
  }
});

test('deregister removes the consumer', async () => {
  await client.send(new DeregisterStreamConsumerCommand({ ConsumerARN: consumers.epsilon }));
  await assert.rejects(
    client.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumers.epsilon })),
    (e) => e instanceof ResourceNotFoundException);
});

test('a subscription to a shard that is split ends with its ChildShards', async () => {
  const consumerArn = (await client.send(new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: 'lineage' }))).Consumer.ConsumerARN;
  await waitFor('consumer ACTIVE', async () =>
    (await client.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumerArn }))).ConsumerDescription.ConsumerStatus === 'ACTIVE');
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 30000);
  let children;
  let count = 0;
  try {
    const out = await client.send(new SubscribeToShardCommand({ ConsumerARN: consumerArn, ShardId: shardId, StartingPosition: { Type: 'TRIM_HORIZON' } }), { abortSignal: abort.signal });
    await client.send(new SplitShardCommand({ StreamName: streamName, ShardToSplit: shardId, NewStartingHashKey: (2n ** 127n).toString() }));
    for await (const event of out.EventStream) {
      if (!event.SubscribeToShardEvent) continue;
      count += event.SubscribeToShardEvent.Records.length;
      if (event.SubscribeToShardEvent.ChildShards?.length) {
        children = event.SubscribeToShardEvent.ChildShards;
      }
    }
  } finally {
    clearTimeout(timer);
  }
  assert.ok(count > 0);
  assert.deepEqual(children.map((c) => c.ShardId), ['shardId-000000000001', 'shardId-000000000002']);
  assert.deepEqual(children[0].ParentShards, [shardId]);
  await waitFor('ACTIVE', async () =>
    (await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }))).StreamDescriptionSummary.StreamStatus === 'ACTIVE');
});

test('delete the stream', async () => {
  await client.send(new DeleteStreamCommand({ StreamName: streamName, EnforceConsumerDeletion: true }));
});
