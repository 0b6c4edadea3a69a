using System.Globalization;
using StackExchange.Redis;

namespace Runnel.Ingest.Throttling.Buckets;

/// <summary>
/// Token buckets in Redis, shared by every replica. Each call is one script evaluation: the script
/// reads the server's clock (TIME), so replicas with skewed clocks still agree. Each key is a hash
/// (c = count tokens, b = byte tokens, t = last update ms, p = penalty deadline ms) that expires
/// once it would read as a full bucket, so idle shards cost nothing.
/// </summary>
internal sealed class RedisTokenBuckets(IConnectionMultiplexer redis) : ITokenBuckets
{
    // Mirrors BucketState: Refill, Take, Charge and IdleLifetimeMs. A rate <= 0 is unlimited.
    // ARGV[1] = 'a' (acquire) or 'c' (charge); then per key: countRate, countBurst, byteRate,
    // byteBurst, and either n followed by n cumulative byte sizes (acquire), or bytes, penalty
    // threshold and penalty ms (charge). Values are stored with 17 significant digits: the default
    // 14 would round a millisecond clock (13 integer digits) to a tenth.
    internal const string Script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
        local tol = 1e-6
        local mode = ARGV[1]
        local a = 2
        local result = {}
        for i = 1, #KEYS do
          local cr = tonumber(ARGV[a]); local cb = tonumber(ARGV[a + 1])
          local br = tonumber(ARGV[a + 2]); local bb = tonumber(ARGV[a + 3])
          local st = redis.call('HMGET', KEYS[i], 'c', 'b', 't', 'p')
          local c, b, u, p
          if st[3] then
            c = tonumber(st[1]); b = tonumber(st[2]); u = tonumber(st[3]); p = tonumber(st[4])
            local dt = now - u
            if dt < 0 then dt = 0 end
            if cr > 0 then c = math.min(cb, c + dt * cr / 1000) end
            if br > 0 then b = math.min(bb, b + dt * br / 1000) end
            if now > u then u = now end
          else
            c = cb; b = bb; u = now; p = 0
          end
          if mode == 'a' then
            local n = tonumber(ARGV[a + 4])
            local k = 0
            if p <= now then
              while k < n
                and (cr <= 0 or k + 1 <= c + tol)
                and (br <= 0 or tonumber(ARGV[a + 5 + k]) <= b + tol) do
                k = k + 1
              end
              if k == 0 and n > 0 and br > 0 and tonumber(ARGV[a + 5]) > bb
                and b >= bb - tol and (cr <= 0 or 1 <= c + tol) then
                k = 1
              end
            end
            if k > 0 then
              if cr > 0 then c = c - k end
              if br > 0 then b = b - tonumber(ARGV[a + 4 + k]) end
            end
            result[i] = k
            a = a + 5 + n
          else
            local bytes = tonumber(ARGV[a + 4])
            local threshold = tonumber(ARGV[a + 5])
            if br > 0 then b = b - bytes end
            if threshold > 0 and bytes >= threshold then
              p = math.max(p, now + tonumber(ARGV[a + 6]))
            end
            result[i] = 0
            a = a + 7
          end
          local life = p - now
          if life < 0 then life = 0 end
          if cr > 0 then life = math.max(life, (cb - c) * 1000 / cr) end
          if br > 0 then life = math.max(life, (bb - b) * 1000 / br) end
          redis.call('HSET', KEYS[i],
            'c', string.format('%.17g', c), 'b', string.format('%.17g', b),
            't', string.format('%.17g', u), 'p', string.format('%.17g', p))
          redis.call('PEXPIRE', KEYS[i], math.ceil(life + 1000))
        end
        return result
        """;

    public async ValueTask<int[]> AcquireAsync(IReadOnlyList<BucketDemand> demands, CancellationToken cancellationToken)
    {
        if (demands.Count == 0)
        {
            return [];
        }

        var keys = new RedisKey[demands.Count];
        var args = new List<RedisValue>(1 + demands.Sum(d => 5 + d.CumulativeBytes.Length)) { "a" };
        for (var i = 0; i < demands.Count; i++)
        {
            var d = demands[i];
            keys[i] = d.Key;
            AddRates(args, d.CountRate, d.ByteRate);
            args.Add(d.CumulativeBytes.Length);
            foreach (var bytes in d.CumulativeBytes)
            {
                args.Add(bytes);
            }
        }

        var result = await redis.GetDatabase().ScriptEvaluateAsync(Script, keys, [.. args]).WaitAsync(cancellationToken).ConfigureAwait(false);
        var values = (RedisResult[])result!;
        var granted = new int[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            granted[i] = (int)values[i];
        }

        return granted;
    }

    public ValueTask ChargeAsync(BucketCharge charge, CancellationToken cancellationToken)
    {
        var args = new List<RedisValue>(8) { "c" };
        AddRates(args, charge.CountRate, charge.ByteRate);
        args.Add(charge.Bytes);
        args.Add(charge.PenaltyThreshold);
        args.Add(Format(charge.Penalty.TotalMilliseconds));

        // Fire and forget: the reader already has its answer; the charge only shapes later reads.
        redis.GetDatabase().ScriptEvaluate(Script, [charge.Key], [.. args], CommandFlags.FireAndForget);
        return ValueTask.CompletedTask;
    }

    private static void AddRates(List<RedisValue> args, Rate count, Rate bytes)
    {
        args.Add(Format(count.PerSecond));
        args.Add(Format(count.Burst));
        args.Add(Format(bytes.PerSecond));
        args.Add(Format(bytes.Burst));
    }

    private static RedisValue Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
