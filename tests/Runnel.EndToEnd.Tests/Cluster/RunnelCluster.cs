using System.Security.Cryptography;
using System.Text;
using Npgsql;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests.Cluster;

/// <summary>Shape of a cluster: how many ShardStore nodes and what they are told beyond the basics.</summary>
public sealed record ClusterOptions
{
    public int StoreNodes { get; init; } = 2;

    /// <summary>Extra <c>--Key=value</c> arguments for every ShardStore node (e.g. a small segment size).</summary>
    public IReadOnlyList<string> StoreArguments { get; init; } = [];

    public IReadOnlyList<string> IngestArguments { get; init; } = [];

    /// <summary>FanOut processes; with any, Ingest forwards the consumer operations to the first.</summary>
    public int FanOutReplicas { get; init; }

    /// <summary>Extra arguments for every FanOut process (e.g. <c>--ConnectionStrings:Redis=...</c>).</summary>
    public IReadOnlyList<string> FanOutArguments { get; init; } = [];
}

/// <summary>
/// A deployed-shape Runnel on one machine: a PostgreSQL database of its own (migrated by the
/// Migrator, as the Helm hook does), ShardStore nodes and one Ingest (SigV4 on, with the
/// <see cref="TestCredentials"/> administrator key), each a separate OS process
/// started from its build output on a free loopback port. Nodes keep their data directory, node id
/// and port across <see cref="ProcessHost.RestartAsync"/>, so a restart is the same node coming back.
/// </summary>
public sealed class RunnelCluster : IAsyncDisposable
{
    private static readonly Dictionary<string, string?> ChildEnvironment = new()
    {
        ["Logging__LogLevel__Default"] = "Information",
        ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning",
        ["Logging__LogLevel__Microsoft.EntityFrameworkCore"] = "Warning",
        ["Logging__LogLevel__System.Net.Http.HttpClient"] = "Warning",
        // The children must not pick up a developer's OTLP collector or Dapr sidecar.
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = null,
        ["Dapr__Enabled"] = "false",
    };

    /// <summary>A start on a busy 2-core machine (hosted services run before Kestrel binds) can take over a minute.</summary>
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromMinutes(3);

    private readonly List<ProcessHost> _nodes = [];
    private readonly List<ProcessHost> _fanOuts = [];
    private readonly List<Uri> _fanOutInternal = [];
    private readonly List<Uri> _nodeInternal = [];
    private readonly TempDirectory _data = new("cluster");

    private RunnelCluster(PostgresDatabase database) => Database = database;

    public PostgresDatabase Database { get; }

    public ProcessHost Ingest { get; private set; } = null!;

    public IReadOnlyList<ProcessHost> StoreNodes => _nodes;

    public IReadOnlyList<ProcessHost> FanOuts => _fanOuts;

    /// <summary>The internal (node-to-node) listener of each ShardStore node, by index.</summary>
    public IReadOnlyList<Uri> StoreNodeInternalAddresses => _nodeInternal;

    /// <summary>The internal listener of each FanOut process.</summary>
    public IReadOnlyList<Uri> FanOutInternalAddresses => _fanOutInternal;

    /// <summary>The public Kinesis endpoint (Ingest).</summary>
    public Uri Endpoint => Ingest.BaseAddress;

    public string DataDirectory => _data.Path;

    public static string NodeId(int index) => $"node-{index + 1}";

    public string NodeDataDirectory(int index) => Path.Combine(_data.Path, NodeId(index));

    public static async Task<RunnelCluster> StartAsync(ClusterOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new ClusterOptions();
        var database = await PostgresDatabase.CreateAsync("e2e", cancellationToken);
        var cluster = new RunnelCluster(database);
        try
        {
            await cluster.StartCoreAsync(options, cancellationToken);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private async Task StartCoreAsync(ClusterOptions options, CancellationToken cancellationToken)
    {
        var metadata = new[] { $"--ConnectionStrings:Metadata={Database.ConnectionString}", "--Metadata:Provider=Postgres" };

        var migrator = await ExternalCommand.RunAsync(
            "dotnet", [RepositoryPaths.ServiceAssembly("Runnel.Metadata.Migrator"), .. metadata],
            TimeSpan.FromMinutes(2), cancellationToken: cancellationToken);
        if (!migrator.Succeeded)
        {
            throw new InvalidOperationException("The metadata migrator failed.\n" + migrator.Describe("migrate"));
        }

        // Every process but Ingest has a public and an internal port: [ingest, nodes..., fanouts..., their internal ports...].
        var count = options.StoreNodes + 1 + options.FanOutReplicas;
        var ports = FreePorts.Get(2 * count);
        var storeDll = RepositoryPaths.ServiceAssembly("Runnel.ShardStore");
        var starts = new List<Task<ProcessHost>>();
        for (var i = 0; i < options.StoreNodes; i++)
        {
            var address = new Uri($"http://127.0.0.1:{ports[i + 1]}");
            var internalAddress = new Uri($"http://127.0.0.1:{ports[count + i + 1]}");
            Directory.CreateDirectory(NodeDataDirectory(i));
            _nodeInternal.Add(internalAddress);
            starts.Add(ProcessHost.StartAsync(new ProcessHostOptions(
                NodeId(i), storeDll, address,
                [
                    $"--urls={address}",
                    $"--ShardStore:NodeId={NodeId(i)}",
                    $"--ShardStore:DataDirectory={NodeDataDirectory(i)}",
                    $"--ShardStore:AdvertisedAddress={internalAddress}",
                    .. InternalListener.Arguments(internalAddress),
                    .. metadata,
                    .. options.StoreArguments,
                ])
            { Environment = ChildEnvironment, ReadyTimeout = ReadyTimeout }, cancellationToken));
        }

        try
        {
            _nodes.AddRange(await Task.WhenAll(starts));
        }
        finally
        {
            // Keep every node that did start, so DisposeAsync stops it even when another failed.
            foreach (var start in starts.Where(s => s.IsCompletedSuccessfully && !_nodes.Contains(s.Result)))
            {
                _nodes.Add(start.Result);
            }
        }

        // Placement only uses nodes that registered; wait until all have, so shards spread over all.
        await Wait.UntilAsync(async () => await RegisteredNodesAsync(cancellationToken) >= options.StoreNodes,
            TimeSpan.FromSeconds(30), $"{options.StoreNodes} ShardStore nodes to register", TimeSpan.FromMilliseconds(100), cancellationToken);

        for (var i = 0; i < options.FanOutReplicas; i++)
        {
            var address = new Uri($"http://127.0.0.1:{ports[options.StoreNodes + 1 + i]}");
            var internalAddress = new Uri($"http://127.0.0.1:{ports[count + options.StoreNodes + 1 + i]}");
            _fanOutInternal.Add(internalAddress);
            _fanOuts.Add(await ProcessHost.StartAsync(new ProcessHostOptions(
                $"fanout-{i + 1}", RepositoryPaths.ServiceAssembly("Runnel.FanOut"), address,
                [$"--urls={address}", .. InternalListener.Arguments(internalAddress), .. metadata, .. options.FanOutArguments])
            { Environment = ChildEnvironment, ReadyTimeout = ReadyTimeout }, cancellationToken));
        }

        var ingestAddress = new Uri($"http://127.0.0.1:{ports[0]}");
        Ingest = await ProcessHost.StartAsync(new ProcessHostOptions(
            "ingest", RepositoryPaths.ServiceAssembly("Runnel.Ingest"), ingestAddress,
            [
                $"--urls={ingestAddress}",
                $"--Runnel:IteratorSigningKey={Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}",
                .. TestCredentials.IngestArguments(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))),
                .. metadata,
                .. InternalListener.Arguments(null),
                .. _fanOutInternal.Take(1).Select(a => $"--FanOut:Address={a}"),
                .. options.IngestArguments,
            ])
        { Environment = ChildEnvironment, ReadyTimeout = ReadyTimeout }, cancellationToken);
    }

    public async Task<long> RegisteredNodesAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = new NpgsqlConnection(Database.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM store_nodes", connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Which node owns each shard index of a stream, from the placement table.</summary>
    public async Task<Dictionary<int, string>> PlacementsAsync(string streamName, CancellationToken cancellationToken = default)
    {
        await using var connection = new NpgsqlConnection(Database.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            SELECT p."ShardIndex", p."NodeId" FROM shard_placements p
            JOIN streams s ON s."Id" = p."StreamId" WHERE s."Name" = @name
            """, connection);
        command.Parameters.AddWithValue("name", streamName);
        var result = new Dictionary<int, string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result[reader.GetInt32(0)] = reader.GetString(1);
        }

        return result;
    }

    /// <summary>The output of every process, for a failed assertion's message.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        foreach (var host in _nodes.Concat(_fanOuts).Append(Ingest).OfType<ProcessHost>())
        {
            text.Append("===== ").Append(host).AppendLine(" =====").AppendLine(Tail(host.Output, 150));
        }

        return text.ToString();
    }

    private static string Tail(string output, int lines)
    {
        var all = output.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    public async ValueTask DisposeAsync()
    {
        if (Ingest is not null)
        {
            await Ingest.DisposeAsync();
        }

        foreach (var fanOut in _fanOuts)
        {
            await fanOut.DisposeAsync();
        }

        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await Database.DisposeAsync();
        _data.Dispose();
    }
}
