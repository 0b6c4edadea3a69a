using System.Net;
using System.Text;
using Npgsql;
using Runnel.EndToEnd.Tests.Cluster;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// Deployed services serve the node API, the gateway's forwarding route and FanOut's forwarded mapping API only on
/// their internal listener, and only with the shared token: on a public port they do not exist, and on the internal
/// port a caller without the token is refused while the data stays intact and the cluster keeps working.
/// </summary>
public sealed class InternalListenerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Internal_routes_are_absent_on_public_ports_and_refused_without_the_token()
    {
        await using var cluster = await RunnelCluster.StartAsync(new ClusterOptions
        {
            StoreNodes = 1,
            FanOutReplicas = 1,
            FanOutArguments = [$"--ConnectionStrings:Redis={await TestServers.RedisAsync()}"],
        }, Ct);
        using var kinesis = new KinesisJsonClient(cluster.Endpoint, TimeSpan.FromSeconds(20));
        var stream = Names.Stream("internal");
        await kinesis.CreateStreamAsync(stream, 1, Ct);
        var shard = (await kinesis.ShardIdsAsync(stream, Ct))[0];
        await kinesis.PutRecordsAsync(stream, [("k", "before"u8.ToArray())], Ct);
        var streamId = await StreamIdAsync(cluster, stream);

        var nodeApi = new (HttpMethod Method, string Path)[]
        {
            (HttpMethod.Get, $"/internal/shards/{streamId}/0/read?from=0&max=10"),
            (HttpMethod.Get, $"/internal/shards/{streamId}/0/state"),
            (HttpMethod.Post, $"/internal/shards/{streamId}/0/seal?epoch=999"),
            (HttpMethod.Put, $"/internal/shards/{streamId}/0/settings?epoch=999"),
            (HttpMethod.Delete, $"/internal/shards/{streamId}/0/?epoch=999"),
        };
        var fanOutApi = new (HttpMethod Method, string Path)[]
        {
            (HttpMethod.Post, "/v1/fanout/kinesis"),
            (HttpMethod.Get, "/2015-03-31/event-source-mappings/"),
            (HttpMethod.Post, "/2015-03-31/event-source-mappings/"),
        };
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };

        foreach (var (method, path) in nodeApi)
        {
            Assert.Equal(HttpStatusCode.NotFound, await SendAsync(http, cluster.StoreNodes[0].BaseAddress, method, path, token: null));
            Assert.Equal(HttpStatusCode.NotFound, await SendAsync(http, cluster.StoreNodes[0].BaseAddress, method, path, InternalListener.Token));
            Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(http, cluster.StoreNodeInternalAddresses[0], method, path, token: null));
            Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(http, cluster.StoreNodeInternalAddresses[0], method, path, "wrong-" + InternalListener.Token));
        }
        foreach (var (method, path) in fanOutApi)
        {
            Assert.Equal(HttpStatusCode.NotFound, await SendAsync(http, cluster.FanOuts[0].BaseAddress, method, path, InternalListener.Token));
            Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(http, cluster.FanOutInternalAddresses[0], method, path, token: null));
            Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(http, cluster.FanOutInternalAddresses[0], method, path, "wrong"));
        }
        // The public port of Ingest serves no internal route either (its front door answers unknown paths with an AWS
        // error).
        foreach (var (method, path) in nodeApi.Concat(fanOutApi.Take(1)))
            Assert.InRange((int)await SendAsync(http, cluster.Endpoint, method, path, InternalListener.Token), 400, 404);

        // With the token the internal listener serves the node API (read-only call), and nothing but internal routes.
        Assert.Equal(HttpStatusCode.OK, await SendAsync(http, cluster.StoreNodeInternalAddresses[0], HttpMethod.Get, $"/internal/shards/{streamId}/0/state", InternalListener.Token));
        Assert.Equal(HttpStatusCode.NotFound, await SendAsync(http, cluster.FanOutInternalAddresses[0], HttpMethod.Get, "/v1/fanout/status", InternalListener.Token));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(http, cluster.StoreNodeInternalAddresses[0], HttpMethod.Get, "/health/live", token: null));

        // Nothing was sealed, purged or deleted: the record is there and the shard takes writes; consumer operations
        // (forwarded by Ingest to FanOut's internal listener with the token) work.
        await kinesis.PutRecordsAsync(stream, [("k", "after"u8.ToArray())], Ct);
        var records = await kinesis.ReadAllAsync(stream, shard, Ct);
        Assert.Equal(["before", "after"], records.Select(r => Encoding.UTF8.GetString(r.Data)));
        var streamArn = (await kinesis.CallAsync("DescribeStreamSummary", new() { ["StreamName"] = stream }, Ct))["StreamDescriptionSummary"]!["StreamARN"]!.GetValue<string>();
        var consumer = await kinesis.CallAsync("RegisterStreamConsumer", new() { ["StreamARN"] = streamArn, ["ConsumerName"] = "c1" }, Ct);
        Assert.Equal("c1", consumer["Consumer"]!["ConsumerName"]!.GetValue<string>());
    }

    private static async Task<HttpStatusCode> SendAsync(HttpClient http, Uri baseAddress, HttpMethod method, string path, string? token)
    {
        using var request = new HttpRequestMessage(method, new Uri(baseAddress, path))
        {
            Content = method == HttpMethod.Get ? null : new ByteArrayContent(new byte[16]),
        };
        if (token is not null)
            request.Headers.Add(InternalListener.TokenHeader, token);
        if (path.StartsWith("/v1/fanout/kinesis", StringComparison.Ordinal))
            request.Headers.Add("X-Amz-Target", "Kinesis_20131202.ListStreamConsumers");
        using var response = await http.SendAsync(request, Ct);
        return response.StatusCode;
    }

    private static async Task<long> StreamIdAsync(RunnelCluster cluster, string stream)
    {
        await using var connection = new NpgsqlConnection(cluster.Database.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("""SELECT "Id" FROM streams WHERE "Name" = @name""", connection);
        command.Parameters.AddWithValue("name", stream);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }
}
