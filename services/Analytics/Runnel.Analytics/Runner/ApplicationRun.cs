using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Runnel.Analytics.Applications;
using Runnel.Analytics.Sql;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults.Objects;
using Runnel.ShardStore.Client;

namespace Runnel.Analytics.Runner;

/// <summary>
/// One running application in this process. It reads the input stream's shards round-robin, feeds their records
/// through the compiled code and commits after each round that emitted rows (and at least every checkpoint interval):
/// first rows for stream outputs, then the checkpoint (next ordinal per shard and the state of every open window),
/// which goes into the table output's transaction when there is one, else into the metadata store. A restart resumes
/// from the committed checkpoint with the windows as they were, so each window is emitted once into the table.
/// Failure rules: a failed read backs off and re-resolves the shard's owner; a failed commit ends the run (the runner
/// starts it again from the last checkpoint, so nothing emitted after it is lost).
/// </summary>
/// <param name="epoch">The lease counter when this replica took the application; fences the table output's commits.</param>
public sealed class ApplicationRun(
    AnalyticsApplicationEntity app,
    long epoch,
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator locator,
    IObjectStore objects,
    LambdaOutputs lambdas,
    AnalyticsOptions options,
    TimeProvider time,
    ILogger logger)
{
    /// <summary>Records per shard read: enough to amortise a read, small enough to keep rounds short (about 200 KB of JSON).</summary>
    private const int ReadBatch = 1000;

    /// <summary>ROWTIME windows close by the clock once every shard is caught up, this long after a record's arrival.</summary>
    private static readonly TimeSpan ArrivalGrace = TimeSpan.FromSeconds(1);

    private sealed class Lane(ShardRef shard, string inAppStream)
    {
        public ShardRef Shard { get; } = shard;
        public string InAppStream { get; } = inAppStream;
        public ulong Position { get; set; }
        public bool Ended { get; set; }
        public IShardStore? Store { get; set; }
        public DateTimeOffset LastRecordAt { get; set; }
    }

    public long RowsIn { get; private set; }

    /// <param name="positioned">Called once the start position of every shard is fixed (records put after it are read).</param>
    public async Task RunAsync(Func<Task> positioned, CancellationToken ct)
    {
        var inputs = JsonNode.Parse(app.InputsJson)!.AsArray();
        var input = ApplicationModel.ReadInput(inputs[0]!);
        var references = JsonNode.Parse(app.ReferenceDataSourcesJson)!.AsArray();
        var program = ApplicationCatalog.Compile(app.Code ?? "", inputs, references);
        foreach (var reference in references.Select(r => ApplicationModel.ReadReference(r!)))
        {
            // Loaded once per run; UpdateApplication makes a new version, which the runner starts again, reloading.
            var data = await objects.GetAsync(reference.Bucket, reference.FileKey, ct).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Reference data s3://{reference.Bucket}/{reference.FileKey} of table {reference.TableName} does not exist.");
            var referenceDecoder = new RecordDecoder(reference.Schema);
            program.SetReferenceRows(reference.TableName, referenceDecoder.DecodeTable(data));
            if (referenceDecoder.Failed > 0)
                logger.LogWarning("{Failed} rows of reference table {Table} of {Application} did not map and were skipped", referenceDecoder.Failed, reference.TableName, app.Name);
        }
        var outputs = JsonNode.Parse(app.OutputsJson)!.AsArray().Select(o => ApplicationModel.ReadOutput(o!)).ToList();
        var decoder = new RecordDecoder(input.Schema);

        PostgresTableSink? table = null;
        var tableOutputs = outputs.Where(o => o.Table is not null).ToList();
        if (tableOutputs.Count > 0)
        {
            var database = tableOutputs[0].Table!.Database;
            if (!options.Databases.TryGetValue(database, out var connectionString))
                throw new InvalidOperationException($"Database {database} is not configured (Analytics:Databases:{database}).");
            if (tableOutputs.Any(o => o.Table!.Database != database))
                throw new InvalidOperationException("Every table output of an application must write to one database (its checkpoint lives there).");
            table = new PostgresTableSink(connectionString, app.Name, app.CreatedAt.ToUnixTimeMilliseconds(), epoch);
            await table.EnsureAsync(tableOutputs.Select(o => (o.Table!, program.Streams[o.Name])), ct).ConfigureAwait(false);
        }
        var streamOutputs = outputs.Where(o => (o.StreamArn ?? o.FirehoseArn) is not null)
            .Select(o => (Output: o, Sink: new StreamSink(dbFactory, locator, (o.StreamArn ?? o.FirehoseArn)!))).ToList();
        var lambdaOutputs = outputs.Where(o => o.LambdaArn is not null).ToList();

        var pending = outputs.Select(o => o.Name).Distinct().ToDictionary(n => n, _ => new List<object?[]>());
        program.Emitted = (stream, row) =>
        {
            if (pending.TryGetValue(stream, out var list))
                list.Add(row);
        };

        var lanes = await LanesAsync(input, ct).ConfigureAwait(false);
        foreach (var group in lanes.GroupBy(l => l.InAppStream))
            program.SetLanes(group.Key, group.Select(l => l.Shard.ShardIndex));
        var checkpoint = table is not null ? await table.LoadCheckpointAsync(ct).ConfigureAwait(false) : await LoadCheckpointAsync(ct).ConfigureAwait(false);
        await PositionAsync(lanes, program, checkpoint, ct).ConfigureAwait(false);
        await positioned().ConfigureAwait(false);

        var lastCommit = time.GetUtcNow();
        var rows = new List<object?[]>();
        var failures = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var read = 0;
                var caughtUp = true;
                foreach (var lane in lanes.Where(l => !l.Ended))
                {
                    ReadResult result;
                    try
                    {
                        lane.Store ??= await StoreOfAsync(lane.Shard, ct).ConfigureAwait(false);
                        result = await lane.Store.ReadAsync(lane.Shard, new ReadRequest(lane.Position, ReadBatch, 1 << 20), ct).ConfigureAwait(false);
                        failures = 0;
                    }
                    catch (Exception e) when (!ct.IsCancellationRequested && e is ShardStoreUnavailableException or ShardNotOwnedException or ShardNotFoundException or IOException or HttpRequestException)
                    {
                        lane.Store = null;
                        caughtUp = false;
                        failures++;
                        logger.LogInformation("Application {Application}: reading shard {Shard} failed ({Error}); retrying", app.Name, lane.Shard, e.Message);
                        await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * failures)), time, ct).ConfigureAwait(false);
                        continue;
                    }
                    var now = time.GetUtcNow();
                    foreach (var record in result.Records)
                    {
                        rows.Clear();
                        decoder.Decode(record.Data, record.ArrivalUnixMs, rows);
                        foreach (var row in rows)
                            program.Insert(lane.InAppStream, lane.Shard.ShardIndex, row);
                        RowsIn += rows.Count;
                    }
                    read += result.Records.Count;
                    lane.Position = result.NextOrdinal;
                    lane.Ended = result.EndOfShard;
                    if (result.Records.Count > 0)
                        lane.LastRecordAt = now;
                    if (result.MillisBehindLatest > 0 || result.Records.Count == ReadBatch)
                        caughtUp = false;
                    else if (now - lane.LastRecordAt >= TimeSpan.FromMilliseconds(options.IdleShardMilliseconds))
                        program.SetIdle(lane.Shard.ShardIndex, true);
                }
                if (caughtUp)
                    program.AdvanceRowtime((time.GetUtcNow() - ArrivalGrace).UtcDateTime);
                var emitted = pending.Values.Any(l => l.Count > 0);
                if (emitted || time.GetUtcNow() - lastCommit >= TimeSpan.FromMilliseconds(options.CheckpointIntervalMilliseconds))
                {
                    await CommitAsync(program, lanes, pending, table, tableOutputs, streamOutputs, lambdaOutputs, ct).ConfigureAwait(false);
                    lastCommit = time.GetUtcNow();
                }
                if (read == 0)
                    await Task.Delay(TimeSpan.FromMilliseconds(100), time, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        // A stop (StopApplication, shutdown) commits what was processed, so LAST_STOPPED_POINT resumes right there.
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await CommitAsync(program, lanes, pending, table, tableOutputs, streamOutputs, lambdaOutputs, bounded.Token).ConfigureAwait(false);
    }

    private async Task<List<Lane>> LanesAsync(InputModel input, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var stream = await RecordStreams.ResolveAsync(db, input.ResourceArn, forWrite: false, ct).ConfigureAwait(false);
        var shards = await db.Shards.AsNoTracking().Where(s => s.StreamId == stream.Id).OrderBy(s => s.ShardIndex)
            .Select(s => s.ShardIndex).ToListAsync(ct).ConfigureAwait(false);
        var names = input.InAppStreamNames;
        var now = time.GetUtcNow();
        return [.. shards.Select((s, i) => new Lane(new ShardRef(stream.Id, s), names[i % names.Count]) { LastRecordAt = now })];
    }

    private async Task<IShardStore> StoreOfAsync(ShardRef shard, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return (await locator.RequireOwnerAsync(db, shard, ct).ConfigureAwait(false)).Store;
    }

    /// <summary>
    /// Resumes from the checkpoint when it belongs to this incarnation of the application and either this run (a
    /// restart or a takeover) or the caller asked for LAST_STOPPED_POINT; otherwise starts at NOW or TRIM_HORIZON
    /// with empty windows.
    /// </summary>
    private async Task PositionAsync(List<Lane> lanes, SqlProgram program, string? checkpoint, CancellationToken ct)
    {
        JsonElement? saved = null;
        if (checkpoint is not null)
        {
            var root = JsonDocument.Parse(checkpoint).RootElement;
            var sameApplication = root.GetProperty("created").GetInt64() == app.CreatedAt.ToUnixTimeMilliseconds();
            if (sameApplication && (root.GetProperty("run").GetInt64() == app.RunId || app.StartingPosition == "LAST_STOPPED_POINT"))
                saved = root;
        }
        if (saved is { } s)
        {
            var positions = s.GetProperty("positions");
            foreach (var lane in lanes)
            {
                if (positions.TryGetProperty(lane.Shard.ShardIndex.ToString(CultureInfo.InvariantCulture), out var p))
                    lane.Position = p.GetUInt64();
            }
            try
            {
                program.RestoreState(s.GetProperty("program").GetString());
            }
            catch (Exception e) when (e is InvalidOperationException or JsonException or KeyNotFoundException)
            {
                logger.LogWarning("Application {Application}: saved windows do not fit the current code ({Error}); they start empty", app.Name, e.Message);
            }
            logger.LogInformation("Application {Application} resumes from its checkpoint", app.Name);
            return;
        }
        foreach (var lane in lanes)
        {
            if (app.StartingPosition == "TRIM_HORIZON")
            {
                lane.Position = 0;
                continue;
            }
            var store = await StoreOfAsync(lane.Shard, ct).ConfigureAwait(false);
            lane.Position = (await store.GetStateAsync(lane.Shard, ct).ConfigureAwait(false)).NextOrdinal;
        }
    }

    private string CheckpointText(SqlProgram program, List<Lane> lanes)
    {
        var positions = new JsonObject();
        foreach (var lane in lanes)
            positions[lane.Shard.ShardIndex.ToString(CultureInfo.InvariantCulture)] = lane.Position;
        return new JsonObject
        {
            ["created"] = app.CreatedAt.ToUnixTimeMilliseconds(),
            ["run"] = app.RunId,
            ["positions"] = positions,
            ["program"] = program.SaveState(),
        }.ToJsonString();
    }

    private async Task CommitAsync(
        SqlProgram program, List<Lane> lanes, Dictionary<string, List<object?[]>> pending, PostgresTableSink? table,
        List<OutputModel> tableOutputs, List<(OutputModel Output, StreamSink Sink)> streamOutputs, List<OutputModel> lambdaOutputs, CancellationToken ct)
    {
        foreach (var (output, sink) in streamOutputs)
        {
            var rows = pending[output.Name];
            if (rows.Count == 0)
                continue;
            var schema = program.Streams[output.Name];
            var records = rows.Select(r => new AppendRecord(PartitionKeyOf(schema, r), RecordDecoder.Encode(schema, r, output.Format))).ToList();
            foreach (var chunk in records.Chunk(500))
                await sink.AppendAsync(chunk, ct).ConfigureAwait(false);
        }
        foreach (var output in lambdaOutputs)
        {
            var rows = pending[output.Name];
            if (rows.Count > 0)
                await lambdas.DeliverAsync(app.Arn, output.LambdaArn!, [.. rows.Select(r => RecordDecoder.Encode(program.Streams[output.Name], r, output.Format))], ct).ConfigureAwait(false);
        }
        var checkpoint = CheckpointText(program, lanes);
        if (table is not null)
        {
            await table.CommitAsync(tableOutputs.Select(o => (o.Table!, program.Streams[o.Name], pending[o.Name])), checkpoint, ct).ConfigureAwait(false);
        }
        else
        {
            await SaveCheckpointAsync(checkpoint, ct).ConfigureAwait(false);
        }
        foreach (var list in pending.Values)
            list.Clear();
    }

    /// <summary>The first visible column's text spreads output records over the stream's shards by their key.</summary>
    private static string PartitionKeyOf(StreamSchema schema, object?[] row) =>
        row.Length > schema.Hidden && row[schema.Hidden] is { } v ? Values.Describe(v) : "null";

    private async Task<string?> LoadCheckpointAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.AnalyticsCheckpoints.AsNoTracking().Where(c => c.ApplicationName == app.Name).Select(c => c.State)
            .FirstOrDefaultAsync(ct).ConfigureAwait(false);
    }

    private async Task SaveCheckpointAsync(string state, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var rows = await db.AnalyticsCheckpoints.Where(c => c.ApplicationName == app.Name)
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.State, state).SetProperty(c => c.RunId, app.RunId).SetProperty(c => c.UpdatedAt, now), ct)
            .ConfigureAwait(false);
        if (rows == 0)
        {
            db.AnalyticsCheckpoints.Add(new AnalyticsCheckpointEntity { ApplicationName = app.Name, RunId = app.RunId, State = state, UpdatedAt = now });
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
        }
    }
}
