using System.Text;
using Runnel.Core.Storage;
using Runnel.ShardStore.Engine.Checkpoints;

namespace Runnel.ShardStore.Engine.Tests;

/// <summary>When an append is acknowledged: the flushed checkpoint, the relaxed policy and the commit journal.</summary>
public sealed class ShardLogJournalTests
{
    private static readonly ShardRef Shard = new(7, 0);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Without_the_journal_an_append_completes_only_after_the_flushed_checkpoint_covers_it()
    {
        await using var f = new StoreFixture(o => o with { JournalMaxCommitBytes = 0 });
        var shards = Enumerable.Range(0, 4).Select(i => new ShardRef(11, i)).ToArray();
        foreach (var s in shards)
            await f.Store.OpenShardAsync(s, 1, StoreFixture.Day, Ct);
        var violations = 0;

        await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
        {
            var shard = shards[i % shards.Length];
            var result = await f.Store.AppendAsync(shard, 1, StoreFixture.Batch(20, size: 64), Ct);
            var checkpoint = f.Store.GetCheckpoint(shard)!.Value;
            if (checkpoint.NextOrdinal < result.FirstOrdinal + (ulong)result.Count)
                Interlocked.Increment(ref violations);
        }));

        Assert.Equal(0, violations);
        foreach (var s in shards)
            Assert.Equal(320UL, f.Store.GetCheckpoint(s)!.Value.NextOrdinal);
    }

    [Fact]
    public async Task Relaxed_policy_acknowledges_and_flushes_on_its_interval()
    {
        await using var f = new StoreFixture(o => o with { CommitPolicy = CommitPolicy.Relaxed, RelaxedFlushInterval = TimeSpan.FromSeconds(1) });
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(10), Ct);
        Assert.Equal(10, (await f.ReadAllAsync(Shard)).Count);

        f.Time.Advance(TimeSpan.FromSeconds(2));
        await TestKit.Wait.UntilAsync(() => f.Store.GetCheckpoint(Shard)?.NextOrdinal == 10, TimeSpan.FromSeconds(10), "the relaxed flush", cancellationToken: Ct);

        await f.ReopenAsync();
        Assert.Equal(10, (await f.ReadAllAsync(Shard)).Count);
    }

    [Theory]
    [InlineData(64L * 1024 * 1024)]
    [InlineData(16L * 1024)]
    public async Task Acknowledged_records_survive_the_loss_of_the_shard_files_unsynced_tails_through_the_commit_journal(long rotateBytes)
    {
        // 8 KiB segments make the shards roll over while journaled groups are in flight; a 16 KiB journal rotates
        // (and retires generations in the background) many times during the run.
        await using var f = new StoreFixture(o => o with { SegmentSizeBytes = 8 * 1024, JournalRotateBytes = rotateBytes });
        var shards = Enumerable.Range(0, 4).Select(i => new ShardRef(21, i)).ToArray();
        foreach (var s in shards)
            await f.Store.OpenShardAsync(s, 1, StoreFixture.Day, Ct);
        var acknowledged = shards.ToDictionary(s => s, _ => new List<(ulong Ordinal, byte[] Data)>());

        await Task.WhenAll(Enumerable.Range(0, 8).Select(async writer =>
        {
            for (var i = 0; i < 25; i++)
            {
                var shard = shards[(writer + i) % shards.Length];
                var batch = Enumerable.Range(0, 3).Select(j => new AppendRecord($"w{writer}", StoreFixture.Filler(150, (writer * 1000) + (i * 10) + j))).ToArray();
                var result = await f.Store.AppendAsync(shard, 1, batch, Ct);
                lock (acknowledged)
                    acknowledged[shard].AddRange(batch.Select((r, j) => (result.FirstOrdinal + (ulong)j, r.Data.ToArray())));
            }
        }));
        var checkpoints = shards.ToDictionary(s => s, s => f.Store.GetCheckpoint(s)!.Value);
        // The journal made the last groups durable, so the shard files were not fsynced for them.
        Assert.Contains(shards, s => checkpoints[s].NextOrdinal < (ulong)acknowledged[s].Count);
        if (rotateBytes < 1024 * 1024)
            Assert.Contains(shards, s => checkpoints[s].NextOrdinal > 0);

        await f.CrashAsync(() =>
        {
            Assert.NotEmpty(f.JournalFiles());
            foreach (var shard in shards)
            {
                // The worst a power loss leaves: the tail file cut back to its last fsynced byte, which the checkpoint
                // as the store left it records. (Not the one read above: a generation that finished retiring after
                // the last acknowledgement fsynced the tails and moved the checkpoints before deleting its journal.)
                // Rolled-over segments were fsynced when they completed.
                CheckpointValue checkpoint;
                using (ShardCheckpoint.Open(f.ShardDirectory(shard), out var stored))
                    checkpoint = stored ?? default;
                var tail = f.SegmentFiles(shard)[^1];
                Assert.True(LogFormat.TryParseSegmentFileName(Path.GetFileName(tail), out var tailIndex, out _));
                using var stream = new FileStream(tail, FileMode.Open);
                stream.SetLength(tailIndex == checkpoint.SegmentIndex ? checkpoint.Position : 64);
            }
        });

        foreach (var shard in shards)
        {
            var all = await f.ReadAllAsync(shard);
            var expected = acknowledged[shard].OrderBy(r => r.Ordinal).ToList();
            Assert.Equal(expected.Select(r => r.Ordinal), all.Select(r => r.Ordinal));
            for (var i = 0; i < expected.Count; i++)
                Assert.Equal(expected[i].Data, all[i].Data.ToArray());
            Assert.Equal((ulong)expected.Count, f.Store.GetCheckpoint(shard)!.Value.NextOrdinal);
        }
        // Replayed records are in the shard files again, so the journal of the earlier run is gone.
        Assert.Single(f.JournalFiles());
    }

    [Fact]
    public async Task A_clean_close_leaves_no_journal_and_a_deleted_shard_never_receives_replayed_records()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(5), Ct);
        await f.ReopenAsync(() => Assert.Empty(f.JournalFiles()));
        Assert.Equal(5, (await f.ReadAllAsync(Shard)).Count);

        // The same shard reference created again after a delete starts empty, also after a crash.
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(4), Ct);
        await f.Store.DeleteShardAsync(Shard, Ct);
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        await f.Store.AppendAsync(Shard, 1, [StoreFixture.Record("k", "only")], Ct);
        await f.CrashAsync();

        var all = await f.ReadAllAsync(Shard);
        Assert.Equal("only", Encoding.UTF8.GetString(Assert.Single(all).Data.Span));
    }
}
