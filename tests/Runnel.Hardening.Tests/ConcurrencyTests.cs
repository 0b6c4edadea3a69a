using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Runnel.Metadata;

namespace Runnel.Hardening.Tests;

/// <summary>Control-plane writes racing on one stream: each answers success or ResourceInUseException, never a fault.</summary>
[Collection(HardeningCollection.Name)]
public sealed class ConcurrencyTests(HardeningFixture f)
{
    private static void AssertSuccessOrInUse(IEnumerable<Answer> answers, string what)
    {
        foreach (var a in answers)
            Assert.True(a.Status == 200 || (a.Status == 400 && a.Type == "ResourceInUseException"), $"{what}: {a.Status} {a.Text}");
    }

    [Fact]
    public async Task Parallel_retention_and_record_size_changes_succeed_or_answer_ResourceInUse()
    {
        var stream = HardeningFixture.NewStreamName("race");
        await f.CreateStreamAsync(stream, 2);
        var arn = (await f.OkAsync("DescribeStreamSummary", new { StreamName = stream })).GetProperty("StreamDescriptionSummary").GetProperty("StreamARN").GetString()!;
        for (var round = 0; round < 3; round++)
        {
            var calls = Enumerable.Range(0, 12).Select(i => (i % 3) switch
            {
                0 => f.CallAsync("IncreaseStreamRetentionPeriod", new { StreamName = stream, RetentionPeriodHours = 48 + round * 12 + i }),
                1 => f.CallAsync("UpdateMaxRecordSize", new { StreamARN = arn, MaxRecordSizeInKiB = 1024 + i }),
                _ => f.CallAsync("DecreaseStreamRetentionPeriod", new { StreamName = stream, RetentionPeriodHours = 24 }),
            });
            var answers = await Task.WhenAll(calls);
            // A decrease may also meet a retention raised meanwhile, which is AWS's InvalidArgumentException.
            AssertSuccessOrInUse(answers.Where(a => a.Type != "InvalidArgumentException"), "retention and record size");
        }
    }

    [Fact]
    public async Task Adding_one_tag_key_in_parallel_succeeds_every_time()
    {
        var stream = HardeningFixture.NewStreamName("tags");
        await f.CreateStreamAsync(stream);
        for (var round = 0; round < 3; round++)
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
                f.CallAsync("AddTagsToStream", new { StreamName = stream, Tags = new Dictionary<string, string> { [$"key{round}"] = $"v{i}" } })));
            Assert.All(answers, a => Assert.True(a.Status == 200, $"{a.Status} {a.Text}"));
        }
        var tags = (await f.OkAsync("ListTagsForStream", new { StreamName = stream })).GetProperty("Tags");
        Assert.Equal(["key0", "key1", "key2"], tags.EnumerateArray().Select(t => t.GetProperty("Key").GetString()).Order());
    }

    [Fact]
    public async Task CreateStream_racing_DeleteStream_leaves_no_orphan_shard_folder()
    {
        for (var round = 0; round < 8; round++)
        {
            var stream = HardeningFixture.NewStreamName("cd");
            var create = f.CallAsync("CreateStream", new { StreamName = stream, ShardCount = 3 });
            var deletes = new List<Answer>();
            while (!create.IsCompleted || deletes.Count == 0)
                deletes.Add(await f.CallAsync("DeleteStream", new { StreamName = stream }));
            var created = await create;
            Assert.True(created.Status == 200, $"CreateStream: {created.Status} {created.Text}");
            foreach (var d in deletes)
                Assert.True(d.Status == 200 || (d.Status == 400 && d.Type is "ResourceInUseException" or "ResourceNotFoundException"), $"DeleteStream: {d.Status} {d.Text}");
            // Whatever the race gave, the stream can be deleted afterwards, in parallel too.
            var finals = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => f.CallAsync("DeleteStream", new { StreamName = stream })));
            foreach (var d in finals)
                Assert.True(d.Status == 200 || (d.Status == 400 && d.Type is "ResourceInUseException" or "ResourceNotFoundException"), $"DeleteStream: {d.Status} {d.Text}");
            var gone = await f.CallAsync("DescribeStreamSummary", new { StreamName = stream });
            if (gone.Status == 200)
                AssertSuccessOrInUse([await f.CallAsync("DeleteStream", new { StreamName = stream })], "a last DeleteStream");
        }

        var dbFactory = f.Services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
        await using var db = await dbFactory.CreateDbContextAsync(TestContext.Current.CancellationToken);
        var known = (await db.Streams.Select(s => s.Id).ToListAsync(TestContext.Current.CancellationToken)).ToHashSet();
        var shards = Path.Combine(f.DataDirectory, "shards");
        var orphans = Directory.EnumerateDirectories(shards)
            .Where(d => long.TryParse(Path.GetFileName(d), out var id) && !known.Contains(id) && Directory.EnumerateFileSystemEntries(d).Any())
            .ToList();
        Assert.True(orphans.Count == 0, $"shard folders of streams the metadata no longer has: {string.Join(", ", orphans)}");
    }
}
