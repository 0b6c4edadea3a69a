// What the tests/js scripts share: their environment, the SDK client options, polling and unique names.

// The named environment variables, or an error naming every one that is missing.
export function requireEnv(...names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length > 0) {
    throw new Error(`Set ${missing.join(', ')} (RUNNEL_ENDPOINT is the Runnel endpoint, e.g. http://127.0.0.1:4700)`);
  }
  return Object.fromEntries(names.map((n) => [n, process.env[n]]));
}

// Options for an SDK v3 client against RUNNEL_ENDPOINT with the test credentials (Standalone accepts any while
// authentication is off). Kinesis allows 5 GetRecords calls/s per shard and answers ProvisionedThroughputExceeded
// beyond; like any Kinesis client, the tests let the SDK retry those with its exponential backoff (8 attempts).
export function clientOptions(extra = {}) {
  const { RUNNEL_ENDPOINT: endpoint } = requireEnv('RUNNEL_ENDPOINT');
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDRUNNELTEST', secretAccessKey: 'runnel-test-secret' },
    maxAttempts: 8,
    ...extra,
  };
}

// A name no other run uses.
export const uniqueName = (prefix) => `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

// Polls probe every 100 ms until it returns a truthy value (its errors count as "not yet"), up to timeoutMs.
export async function waitFor(what, probe, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
}
