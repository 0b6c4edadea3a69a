// Benchmark (not a test): put-to-subscriber latency of SubscribeToShard. RUNNEL_ENDPOINT=http://127.0.0.1:PORT
// node fanout-latency.mjs [records]. Puts one record at a time and times how long until the subscriber holds it.
import {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordCommand, DeleteStreamCommand,
  RegisterStreamConsumerCommand, DescribeStreamConsumerCommand, SubscribeToShardCommand,
} from '@aws-sdk/client-kinesis';

const endpoint = process.env.RUNNEL_ENDPOINT ?? 'http://127.0.0.1:4700';
const count = Number(process.argv[2] ?? 500);
const client = new KinesisClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
const name = `fanout-latency-${Date.now()}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
let arn;
for (;;) {
  const s = (await client.send(new DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary;
  if (s.StreamStatus === 'ACTIVE') { arn = s.StreamARN; break; }
  await sleep(50);
}
const consumer = (await client.send(new RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: 'bench' }))).Consumer.ConsumerARN;
while ((await client.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumer }))).ConsumerDescription.ConsumerStatus !== 'ACTIVE') await sleep(50);

const abort = new AbortController();
const out = await client.send(new SubscribeToShardCommand({ ConsumerARN: consumer, ShardId: 'shardId-000000000000', StartingPosition: { Type: 'LATEST' } }), { abortSignal: abort.signal });
const waiting = new Map();
(async () => {
  try {
    for await (const e of out.EventStream) {
      for (const r of e.SubscribeToShardEvent?.Records ?? []) {
        const key = new TextDecoder().decode(r.Data);
        waiting.get(key)?.(process.hrtime.bigint());
      }
    }
  } catch { /* aborted */ }
})();
await sleep(200);
const latencies = [];
for (let i = 0; i < count; i++) {
  const key = `r${i}`;
  const seen = new Promise((resolve) => waiting.set(key, resolve));
  const start = process.hrtime.bigint();
  await client.send(new PutRecordCommand({ StreamName: name, PartitionKey: 'k', Data: new TextEncoder().encode(key) }));
  const at = await seen;
  latencies.push(Number(at - start) / 1e6);
}
abort.abort();
await client.send(new DeleteStreamCommand({ StreamName: name, EnforceConsumerDeletion: true }));
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(2);
console.log(`put-to-subscriber latency over ${count} records (ms, includes the PutRecord round trip): p50 ${q(0.5)}  p99 ${q(0.99)}  max ${latencies.at(-1).toFixed(2)}`);
