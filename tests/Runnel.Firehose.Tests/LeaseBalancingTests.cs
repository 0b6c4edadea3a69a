using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Runnel.Firehose.Api;
using Runnel.Firehose.Delivery;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Objects;
using Runnel.ShardStore.Client;
using Runnel.TestKit;
using Runnel.TestKit.Standalone;

namespace Runnel.Firehose.Tests;

/// <summary>
/// Delivery of a 6-shard source by replicas on PostgreSQL metadata, through the lease library the event source mappings
/// and SQL applications use: each replica announces itself and takes leases up to <c>ceil(leases / replicas)</c>, a
/// replica that leaves hands its shards to the others, and every record lands in exactly one object.
/// </summary>
public sealed class LeaseBalancingTests
{
    private const int Shards = 6;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Fast settings: scans every 200 ms, leases of 3 s, a steal every 500 ms, objects after 1 s of buffering.</summary>
    private static FirehoseOptions Fast(string folder) => new()
    {
        LocalFolder = folder,
        ScanIntervalMilliseconds = 200,
        LeaseSeconds = 3,
        StealIntervalMilliseconds = 500,
        PollMilliseconds = 50,
        AllowedHosts = ["127.0.0.1"],
    };

    [Fact]
    public async Task Replicas_share_the_shards_fairly_and_a_leaving_replica_hands_its_shards_over()
    {
        using var objects = new TempDirectory("fh-balance-objects");
        await using var cluster = await LocalShardCluster.StartAsync("fh-balance", services =>
        {
            services.AddSingleton(Options.Create(Fast(objects.Path)));
            services.AddSingleton<IObjectStore>(new LocalFolderObjectStore(objects.Path));
            services.AddSingleton<PlacementPlanner>();
            services.AddDeliveryStreams();
        }, ct: Ct);
        var source = FirehoseHost.NewName("src");
        var streamId = await cluster.CreateStreamAsync(source, Shards, Ct);
        var bucket = FirehoseHost.NewBucket();
        var hose = FirehoseHost.NewName("hose");
        await cluster.Services.GetRequiredService<DeliveryStreamApi>().InvokeAsync("CreateDeliveryStream", JsonSerializer.SerializeToElement(new
        {
            DeliveryStreamName = hose,
            DeliveryStreamType = "KinesisStreamAsSource",
            KinesisStreamSourceConfiguration = new
            {
                KinesisStreamARN = $"arn:aws:kinesis:us-east-1:000000000000:stream/{source}",
                RoleARN = "arn:aws:iam::000000000000:role/firehose",
            },
            ExtendedS3DestinationConfiguration = new
            {
                RoleARN = "arn:aws:iam::000000000000:role/firehose",
                BucketARN = $"arn:aws:s3:::{bucket}",
                BufferingHints = new { SizeInMBs = 1, IntervalInSeconds = 1 },
            },
        }), Ct);

        var replicas = new List<DeliveryService>();
        try
        {
            foreach (var name in new[] { "firehose-0", "firehose-1", "firehose-2" })
            {
                var replica = ActivatorUtilities.CreateInstance<DeliveryService>(cluster.Services, new ServiceIdentity(name, "test"));
                replicas.Add(replica);
                await replica.StartAsync(Ct);
            }
            await UntilHeldAsync(replicas, [2, 2, 2], "each of 3 replicas to deliver 2 of the 6 shards");
            var expected = await PutRoundAsync(cluster, streamId, "first");
            await UntilDeliveredOnceAsync(objects.Path, bucket, expected);

            // A clean stop withdraws the replica and gives its leases up: the other two take them at once.
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
                await replicas[2].StopAsync(timeout.Token);
            replicas[2].Dispose();
            replicas.RemoveAt(2);
            await UntilHeldAsync(replicas, [3, 3], "the 2 remaining replicas to deliver 3 shards each");
            expected.AddRange(await PutRoundAsync(cluster, streamId, "second"));
            await UntilDeliveredOnceAsync(objects.Path, bucket, expected);
        }
        finally
        {
            foreach (var replica in replicas)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await replica.StopAsync(timeout.Token);
                replica.Dispose();
            }
        }
    }

    /// <summary>Puts 5 records on every shard, each a line naming its round, shard and number; returns the lines.</summary>
    private static async Task<List<string>> PutRoundAsync(LocalShardCluster cluster, long streamId, string round)
    {
        var lines = new List<string>();
        for (var shard = 0; shard < Shards; shard++)
        {
            var records = Enumerable.Range(0, 5).Select(i => (Key: $"k{shard}", Data: $"{round}:{shard}:{i}\n")).ToList();
            await cluster.PutAsync(streamId, shard, records, Ct);
            lines.AddRange(records.Select(r => r.Data.TrimEnd('\n')));
        }
        return lines;
    }

    private static async Task UntilHeldAsync(IReadOnlyList<DeliveryService> replicas, IReadOnlyList<int> expected, string what)
    {
        try
        {
            await Wait.UntilAsync(() => replicas.Select((r, i) => r.HeldLeases.Count == expected[i]).All(ok => ok), Patience, what, cancellationToken: Ct);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message} Delivering: {string.Join(", ", replicas.Select(r => $"{r.Owner}={r.HeldLeases.Count}"))}", e);
        }
    }

    /// <summary>Waits until every expected line is in the bucket, then checks that none is there twice.</summary>
    private static async Task UntilDeliveredOnceAsync(string root, string bucket, IReadOnlyList<string> expected)
    {
        var buckets = new FolderBuckets(root);
        var lines = new List<string>();
        await Wait.UntilAsync(async () =>
        {
            lines = [];
            foreach (var key in await buckets.KeysAsync(bucket))
                lines.AddRange(Encoding.UTF8.GetString(await buckets.ReadAsync(bucket, key)).Split('\n', StringSplitOptions.RemoveEmptyEntries));
            return expected.All(lines.Contains);
        }, Patience, $"{expected.Count} records in {bucket}", cancellationToken: Ct);
        Assert.Equal(expected.Order(StringComparer.Ordinal), lines.Order(StringComparer.Ordinal));
    }
}
