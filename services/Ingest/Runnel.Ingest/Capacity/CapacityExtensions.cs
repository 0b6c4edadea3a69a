using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Streams;
using Runnel.Gateway;
using Runnel.Ingest.Protocol;
using Runnel.Ingest.Streams;
using StackExchange.Redis;

namespace Runnel.Ingest.Capacity;

internal static class CapacityExtensions
{
    /// <summary>
    /// Traffic counting, hot-key reports and the on-demand scaler. Counts are shared through Redis when
    /// <c>ConnectionStrings:Redis</c> is set (the throttling module registers the connection), in process otherwise.
    /// </summary>
    public static IServiceCollection AddCapacity(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<CapacityOptions>().BindConfiguration(CapacityOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<TrafficRecorder>();
        if (string.IsNullOrWhiteSpace(configuration.GetConnectionString("Redis")))
            services.TryAddSingleton<ITrafficStore, InProcessTrafficStore>();
        else
            services.TryAddSingleton<ITrafficStore>(sp => new RedisTrafficStore(
                sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<IOptions<CapacityOptions>>()));
        services.TryAddSingleton<CapacityMetrics>();
        services.TryAddSingleton<HotKeyReporter>();
        services.AddHostedService<TrafficFlushService>();
        services.AddHostedService<OnDemandScaler>();
        return services;
    }

    /// <summary>
    /// <c>GET /v1/streams/{name}/hot-keys?shard={shardId}&amp;limit={n}</c>: write rate and heaviest partition keys
    /// of one shard, or of every open shard without <c>shard</c>.
    /// </summary>
    public static WebApplication MapCapacity(this WebApplication app)
    {
        app.MapGet("/v1/streams/{name}/hot-keys", HotKeysAsync);
        return app;
    }

    private static async Task HotKeysAsync(HttpContext http, string name, string? shard, int? limit, RouteCache routes, HotKeyReporter reporter)
    {
        try
        {
            var v = new Violations();
            v.StreamName(name);
            v.ShardId(shard, "shard");
            v.Range("limit", limit, 1, 1000);
            v.ThrowIfAny();
            var route = await routes.FindAsync(name);
            if (route is null || !RouteCache.IsWritable(route.Status))
                throw KinesisException.ResourceNotFound($"Stream {name} not found.");
            IEnumerable<int> shards;
            if (shard is null)
                shards = route.OpenShards.Select(s => s.Index);
            else if (ShardIds.TryParse(shard, out var index) && route.Shard(index) is not null)
                shards = [index];
            else
                throw KinesisException.ResourceNotFound($"Could not find shard {shard} in stream {name}.");
            var heat = await reporter.ReportAsync(route.StreamId, route.Name, shards, onlyHot: false, limit ?? 10, http.RequestAborted);
            await Results.Json(new
            {
                streamName = route.Name,
                windowSeconds = reporter.WindowSeconds,
                shards = heat.Select(h => new
                {
                    shardId = ShardIds.Format(h.ShardIndex),
                    incomingBytesPerSecond = Math.Round(h.BytesPerSecond, 1),
                    incomingRecordsPerSecond = Math.Round(h.RecordsPerSecond, 1),
                    writeUtilization = Math.Round(h.Use, 4),
                    throttledRecords = h.ThrottledRecords,
                    hotKeys = h.Keys.Select(k => new
                    {
                        partitionKey = k.Key,
                        bytes = k.Bytes,
                        bytesPerSecond = Math.Round((double)k.Bytes / h.Seconds, 1),
                        share = h.BytesPerSecond > 0 ? Math.Round(Math.Min(1.0, k.Bytes / h.Seconds / h.BytesPerSecond), 4) : 0,
                    }),
                }),
            }).ExecuteAsync(http);
        }
        catch (KinesisException e)
        {
            if (!http.Response.HasStarted)
                await AwsAnswers.WriteErrorAsync(http, WireFormat.Json, e.Type, e.Message, e.StatusCode);
        }
    }
}
