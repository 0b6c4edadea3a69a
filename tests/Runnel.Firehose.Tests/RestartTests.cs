using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Runnel.Core.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.TestKit;

namespace Runnel.Firehose.Tests;

/// <summary>
/// A crash between an object's write and its checkpoint: the metadata is left exactly as such a crash leaves it (the
/// object's range recorded as being written, the checkpoint not past it) and a new Standalone starts over the same data
/// folder. It must write the same key again, not a second object, and then move on.
/// </summary>
public sealed class RestartTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_restart_between_object_write_and_checkpoint_rewrites_the_same_key(bool objectWasWritten)
    {
        using var data = new TempDirectory("firehose-restart");
        var hose = FirehoseHost.NewName("restart");
        var bucket = FirehoseHost.NewBucket();
        string key;
        byte[] content;
        await using (var first = await FirehoseHost.StartAsync(data.Path, s3: false))
        {
            await first.FirehoseAsync("CreateDeliveryStream", new
            {
                DeliveryStreamName = hose,
                ExtendedS3DestinationConfiguration = new
                {
                    RoleARN = "arn:aws:iam::000000000000:role/firehose",
                    BucketARN = $"arn:aws:s3:::{bucket}",
                    Prefix = "r/!{firehose:random-string}/",
                    ErrorOutputPrefix = "e/!{firehose:error-output-type}/",
                    BufferingHints = new { SizeInMBs = 1, IntervalInSeconds = 1 },
                },
            });
            await first.FirehoseAsync("PutRecordBatch", new { DeliveryStreamName = hose, Records = new[] { "a", "b", "c" }.Select(s => new { Data = Encoding.UTF8.GetBytes(s) }).ToArray() });
            key = Assert.Single(await first.WaitForObjectsAsync(bucket, 1));
            content = await first.Buckets.ReadAsync(bucket, key);
            Assert.Equal("abc", Encoding.UTF8.GetString(content));
            await WaitForCheckpointAsync(first.Services, hose, c => c is not null && !c.Contains('|'));
        }

        // What a crash after step 1 of the delivery rule leaves: records 0..2 of shard 0 recorded as being written,
        // nothing delivered before them; the object either made it (objectWasWritten) or not.
        var path = Path.Combine(data.Path, "buckets", bucket, key);
        if (!objectWasWritten)
            File.Delete(path);
        await SetCheckpointAsync(data.Path, hose, $"|{new SequenceNumber(0, 0)}..{new SequenceNumber(0, 2)}");

        await using var second = await FirehoseHost.StartAsync(data.Path, s3: false);
        await WaitForCheckpointAsync(second.Services, hose, c => c == new SequenceNumber(0, 2).ToString());
        Assert.Equal([key], await second.Buckets.KeysAsync(bucket));
        Assert.Equal(content, await second.Buckets.ReadAsync(bucket, key));

        // Delivery goes on after the replay, into a new object.
        await second.FirehoseAsync("PutRecord", new { DeliveryStreamName = hose, Record = new { Data = Encoding.UTF8.GetBytes("d") } });
        var keys = await second.WaitForObjectsAsync(bucket, 2);
        Assert.Equal("d", Encoding.UTF8.GetString(await second.Buckets.ReadAsync(bucket, Assert.Single(keys, k => k != key))));
    }

    internal static async Task WaitForCheckpointAsync(IServiceProvider services, string hose, Func<string?, bool> done)
    {
        var factory = services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
        await Wait.UntilAsync(async () =>
        {
            await using var db = await factory.CreateDbContextAsync();
            var id = await db.DeliveryStreams.Where(d => d.Name == hose).Select(d => d.Id).SingleAsync();
            var application = DeliveryStreamEntity.LeaseApplication(id);
            return done(await db.Leases.Where(l => l.ApplicationName == application).Select(l => l.Checkpoint).SingleAsync());
        }, TimeSpan.FromSeconds(60), $"the checkpoint of {hose}", TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken);
    }

    internal static async Task SetCheckpointAsync(string data, string hose, string checkpoint)
    {
        var options = new DbContextOptionsBuilder<SqliteMetadataDbContext>().UseSqlite($"Data Source={Path.Combine(data, "metadata.db")}").Options;
        await using var db = new SqliteMetadataDbContext(options);
        var id = await db.DeliveryStreams.Where(d => d.Name == hose).Select(d => d.Id).SingleAsync(TestContext.Current.CancellationToken);
        var application = DeliveryStreamEntity.LeaseApplication(id);
        var rows = await db.Leases.Where(l => l.ApplicationName == application)
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.Checkpoint, checkpoint).SetProperty(l => l.LeaseOwner, (string?)null), TestContext.Current.CancellationToken);
        Assert.Equal(1, rows);
    }
}
