// Authentication seen by the AWS SDK for JavaScript v3 (HTTP/2) and its SigV4 presigner, against a Runnel endpoint
// with Security:Authentication=SigV4. RUNNEL_ENDPOINT, RUNNEL_ACCESS_KEY_ID / RUNNEL_SECRET_ACCESS_KEY (a key allowed
// everything) and RUNNEL_STREAM (an existing stream) are given by the C# test that starts the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KinesisClient, ListStreamsCommand, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@smithy/core/checksum';

const endpoint = process.env.RUNNEL_ENDPOINT;
const accessKeyId = process.env.RUNNEL_ACCESS_KEY_ID;
const secretAccessKey = process.env.RUNNEL_SECRET_ACCESS_KEY;
const stream = process.env.RUNNEL_STREAM;
if (!endpoint || !accessKeyId || !secretAccessKey || !stream) {
  throw new Error('Set RUNNEL_ENDPOINT, RUNNEL_ACCESS_KEY_ID, RUNNEL_SECRET_ACCESS_KEY and RUNNEL_STREAM.');
}

// One attempt: a refusal must show as the server's answer, and the SDK would otherwise correct a skewed clock and retry.
const client = (credentials, extra = {}) => new KinesisClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1, ...extra });

const refusal = async (promise) => {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('the call succeeded');
};

test('a created key lists streams and puts a record over HTTP/2', async () => {
  const kinesis = client({ accessKeyId, secretAccessKey });
  const listed = await kinesis.send(new ListStreamsCommand({}));
  assert.ok(listed.StreamNames.includes(stream));
  const put = await kinesis.send(new PutRecordCommand({ StreamName: stream, PartitionKey: 'js-auth', Data: new TextEncoder().encode('signed') }));
  assert.match(put.SequenceNumber, /^\d+$/);
});

test('a wrong secret is InvalidSignatureException', async () => {
  const e = await refusal(client({ accessKeyId, secretAccessKey: secretAccessKey + 'x' }).send(new ListStreamsCommand({})));
  assert.equal(e.name, 'InvalidSignatureException');
  assert.equal(e.$metadata.httpStatusCode, 400);
  assert.match(e.message, /^The request signature we calculated does not match the signature you provided/);
});

test('an unknown key is UnrecognizedClientException', async () => {
  const e = await refusal(client({ accessKeyId: 'AKIANOSUCHKEY0000000', secretAccessKey }).send(new ListStreamsCommand({})));
  assert.equal(e.name, 'UnrecognizedClientException');
  assert.equal(e.message, 'The security token included in the request is invalid.');
});

test('a session token (temporary credentials) is UnrecognizedClientException: Runnel issues none', async () => {
  const e = await refusal(client({ accessKeyId, secretAccessKey, sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' }).send(new ListStreamsCommand({})));
  assert.equal(e.name, 'UnrecognizedClientException');
  assert.equal(e.$metadata.httpStatusCode, 400);
  assert.equal(e.message, 'The security token included in the request is invalid.');
});

test('a clock ten minutes behind is refused as an expired signature', async () => {
  const e = await refusal(client({ accessKeyId, secretAccessKey }, { systemClockOffset: -10 * 60 * 1000 }).send(new ListStreamsCommand({})));
  assert.equal(e.name, 'InvalidSignatureException');
  assert.match(e.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z/);
});

test('a clock ten minutes ahead is refused as not yet current', async () => {
  const e = await refusal(client({ accessKeyId, secretAccessKey }, { systemClockOffset: 10 * 60 * 1000 }).send(new ListStreamsCommand({})));
  assert.equal(e.name, 'InvalidSignatureException');
  assert.match(e.message, /^Signature not yet current/);
});

const url = new URL(endpoint);
const signer = new SignatureV4({ credentials: { accessKeyId, secretAccessKey }, region: 'us-east-1', service: 'kinesis', sha256: Sha256 });
const hotKeys = {
  method: 'GET',
  protocol: url.protocol,
  hostname: url.hostname,
  port: Number(url.port),
  path: `/v1/streams/${stream}/hot-keys`,
  query: {},
  headers: { host: url.host },
};
const presignedUrl = (signed) =>
  `${endpoint}${signed.path}?${Object.entries(signed.query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;

test('a presigned URL works without any header', async () => {
  const signed = await signer.presign(hotKeys, { expiresIn: 300 });
  const answer = await fetch(presignedUrl(signed));
  assert.equal(answer.status, 200, await answer.clone().text());
  const report = await answer.json();
  assert.ok(Array.isArray(report.shards));
});

test('a presigned URL carrying a session token is refused as an invalid security token', async () => {
  const withToken = new SignatureV4({ credentials: { accessKeyId, secretAccessKey, sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' }, region: 'us-east-1', service: 'kinesis', sha256: Sha256 });
  const signed = await withToken.presign(hotKeys, { expiresIn: 300 });
  assert.ok('X-Amz-Security-Token' in signed.query);
  const answer = await fetch(presignedUrl(signed));
  assert.equal(answer.status, 400);
  const error = await answer.json();
  assert.equal(error.__type, 'UnrecognizedClientException');
  assert.equal(error.message, 'The security token included in the request is invalid.');
});

test('an expired presigned URL is refused', async () => {
  const signed = await signer.presign(hotKeys, { expiresIn: 60, signingDate: new Date(Date.now() - 5 * 60 * 1000) });
  const answer = await fetch(presignedUrl(signed));
  assert.equal(answer.status, 400);
  const error = await answer.json();
  assert.equal(error.__type, 'InvalidSignatureException');
  assert.match(error.message, /^Signature expired/);
});

test('a presigned URL altered after signing is refused', async () => {
  const signed = await signer.presign(hotKeys, { expiresIn: 300 });
  const answer = await fetch(presignedUrl({ ...signed, path: `/v1/streams/${stream}x/hot-keys` }));
  assert.equal(answer.status, 400);
  assert.equal((await answer.json()).__type, 'InvalidSignatureException');
});
