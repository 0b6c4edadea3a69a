using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Runnel.Core.Streams;
using Runnel.Gateway;
using Runnel.Ingest.Auth;
using Runnel.Ingest.Capacity;
using Runnel.Ingest.Operations;
using Runnel.Ingest.Options;
using Runnel.Ingest.Protocol;
using Runnel.Ingest.Resharding;
using Runnel.Ingest.Rest;
using Runnel.Ingest.Streams;
using Runnel.Ingest.Throttling;
using Runnel.Metadata;
using Runnel.ServiceDefaults;
using Runnel.ShardStore.Client;

namespace Runnel.Ingest;

public static class Extensions
{
    /// <summary>
    /// Registers the Kinesis-compatible endpoint: options, the stream catalog over the metadata store,
    /// the routing cache, iterator signing, authentication and authorization (<c>Security</c>) and cleartext HTTP/2 on the shared
    /// port. The shard store locator comes from the ShardStore client (or the in-process node).
    /// </summary>
    public static IHostApplicationBuilder AddIngest(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<RunnelOptions>().BindConfiguration(RunnelOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<IngestOptions>().BindConfiguration(IngestOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        if (!services.Any(d => d.ServiceType == typeof(IDbContextFactory<MetadataDbContext>)))
            services.AddRunnelMetadata(builder.Configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new ShardIteratorCodec(
            IteratorKey(sp.GetRequiredService<IOptions<RunnelOptions>>().Value), sp.GetRequiredService<TimeProvider>()));
        services.AddRunnelSecurity();
        // Per-shard limits: on Redis when ConnectionStrings:Redis is set, in process otherwise.
        services.AddRunnelThrottling(builder.Configuration);
        // Per-shard traffic and hot keys shared across replicas, and the on-demand scaler.
        services.AddCapacity(builder.Configuration);
        services.AddShardStoreClient(builder.Configuration);
        services.TryAddSingleton<IShardPlacer, PlannerShardPlacer>();
        services.TryAddSingleton<RouteCache>();
        // The Kinesis operations: a handler per group with the shared stream helpers and rates (Operations/).
        services.TryAddSingleton<KinesisStreams>();
        services.TryAddSingleton<ControlPlaneAdmission>();
        services.TryAddSingleton<KinesisDataPlane>();
        services.TryAddSingleton<KinesisControlPlane>();
        services.TryAddSingleton<KinesisTagging>();
        services.TryAddSingleton<KinesisResharding>();
        services.AddAwsOperations<KinesisOperations>();
        // Resharding runs as a workflow of messages (RabbitMQ when configured, in memory otherwise), resumed
        // from the reshard_operations table after a crash.
        services.AddOptions<ReshardingOptions>().BindConfiguration(ReshardingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<ReshardExecutor>();
        services.AddHostedService<ReshardRecoveryService>();
        builder.AddRunnelMessaging(x => x.AddConsumer<ReshardConsumer>(typeof(ReshardConsumerDefinition)));
        services.TryAddSingleton<KinesisEndpoint>();
        services.AddSingleton<IAwsOperations, StreamEncryptionOperations>();
        services.AddSingleton<IAwsOperations, ResourcePolicyOperations>();
        // Other services' operations on this port: in process when their modules are here, forwarded otherwise.
        services.AddAwsGateway();
        services.Configure<KestrelServerOptions>(CleartextHttp2.Configure);
        services.AddHealthChecks().AddCheck<MetadataReadyCheck>("ingest-metadata", tags: ["ready"]);
        // Two Information lines per request from the hosting layer would cost more than a PutRecord itself;
        // they stay available by configuring Logging:LogLevel:Microsoft.AspNetCore.
        if (builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore"] is null)
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        return builder;
    }

    /// <summary>
    /// Maps <c>POST /</c> (the Kinesis protocol), <c>POST /v1/streams/{name}/records</c> and key management, with every
    /// route but health behind the authenticator.
    /// </summary>
    public static WebApplication MapIngest(this WebApplication app)
    {
        var endpoint = app.Services.GetRequiredService<KinesisEndpoint>();
        app.MapRunnelSecurity();
        // Every method: AWS answers the ones it does not serve (and CORS preflights) on the same path.
        app.Map("/", endpoint.HandleAsync).DisableAntiforgery();
        app.MapPost("/v1/streams/{name}/records", (HttpContext http, string name, KinesisDataPlane api) => RestRecordsApi.HandleAsync(http, name, api));
        // Lambda's event-source-mapping API belongs to FanOut: mapped by its module when it is in this process
        // (Standalone), forwarded to the FanOut service otherwise.
        var table = app.Services.GetRequiredService<AwsOperationTable>();
        if (!table.IsLocal(AwsServices.FanOut))
        {
            app.MapMethods("/2015-03-31/event-source-mappings/{**rest}", ["GET", "POST", "PUT", "DELETE"], async (HttpContext http) =>
            {
                if (table.Of(AwsServices.FanOut) is not RemoteAwsOperations fanOut)
                {
                    http.Response.StatusCode = 500;
                    http.Response.Headers["x-amzn-ErrorType"] = "ServiceException";
                    await http.Response.WriteAsJsonAsync(new Dictionary<string, string> { ["Type"] = "Service", ["message"] = "Event source mappings need the FanOut service, which is not configured (FanOut:Address)." }, http.RequestAborted);
                    return;
                }
                // Route authentication has read (and verified) the body and left it buffered, with the principal.
                using var body = new MemoryStream();
                await http.Request.Body.CopyToAsync(body, http.RequestAborted);
                var principal = http.Items[RouteAuthentication.PrincipalItem] as string ?? "anonymous";
                await fanOut.ForwardRestAsync(http, body.GetBuffer().AsMemory(0, (int)body.Length), principal);
            });
        }
        app.MapCapacity();
        return app;
    }

    private static byte[] IteratorKey(RunnelOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.IteratorSigningKey))
            throw new InvalidOperationException("Runnel:IteratorSigningKey is not set: give every Ingest replica the same base64 key of at least 16 bytes.");
        byte[] key;
        try
        {
            key = Convert.FromBase64String(options.IteratorSigningKey);
        }
        catch (FormatException)
        {
            throw new InvalidOperationException("Runnel:IteratorSigningKey is not valid base64.");
        }
        if (key.Length < 16)
            throw new InvalidOperationException("Runnel:IteratorSigningKey must decode to at least 16 bytes.");
        return key;
    }
}

/// <summary>Ready when the metadata store answers: every control-plane call and routing miss needs it.</summary>
internal sealed class MetadataReadyCheck(IDbContextFactory<MetadataDbContext> dbFactory) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
            return await db.Database.CanConnectAsync(cancellationToken)
                ? HealthCheckResult.Healthy("metadata store answers")
                : HealthCheckResult.Unhealthy("metadata store does not answer");
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy("metadata store does not answer", e);
        }
    }
}
