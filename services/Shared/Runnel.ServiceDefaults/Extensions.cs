using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Runnel.ServiceDefaults.Connections;
using Runnel.ServiceDefaults.Health;
using Runnel.ServiceDefaults.Internal;

namespace Runnel.ServiceDefaults;

/// <summary>
/// Telemetry, health, resilience and the Dapr switch shared by every Runnel process. Each host calls
/// <see cref="AddServiceDefaults"/> once; Standalone composes several modules on top of one call.
/// </summary>
public static class Extensions
{
    /// <summary>Meters and activity sources whose names match this pattern are exported.</summary>
    public const string TelemetryPrefix = "Runnel.*";

    public const string LivePath = "/health/live";
    public const string ReadyPath = "/health/ready";
    public const string MetricsPath = "/metrics";

    /// <summary>Tag that puts a health check into <c>/health/ready</c>.</summary>
    public const string ReadyTag = "ready";

    /// <summary>Tag that puts a health check into <c>/health/live</c>; only process-local checks carry it.</summary>
    public const string LiveTag = "live";

    /// <summary>Defaults for an HTTP service: the basic defaults plus the standard resilience handler on every HttpClient.</summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        if (IsRegistered<HttpDefaultsMarker>(builder))
        {
            return builder;
        }
        builder.AddBasicServiceDefaults();
        // Streaming clients (SubscribeToShard, long polls) must opt out with RemoveAllResilienceHandlers():
        // the standard pipeline caps a whole request at 30 s.
        builder.Services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler());
        builder.Services.AddOptions<ConnectionOptions>().BindConfiguration(ConnectionOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IConfigureOptions<KestrelServerOptions>, ConnectionLimits>();
        builder.Services.AddInternalEndpointServices();
        return builder;
    }

    /// <summary>Defaults for any process, including workers without HTTP endpoints.</summary>
    public static TBuilder AddBasicServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        // Several modules composed in one process (Standalone) must not register everything twice.
        if (IsRegistered<ServiceDefaultsMarker>(builder))
        {
            return builder;
        }

        builder.Services.Replace(ServiceDescriptor.Singleton<System.Diagnostics.Metrics.IMeterFactory, ProcessMeterFactory>());
        builder.ConfigureRunnelLogging();
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.AddDapr();
        var identity = ServiceIdentity.From(builder.Configuration);
        builder.Services.AddSingleton(identity);
        builder.Services.AddSingleton(new RunnelProcessMetrics(identity));
        return builder;
    }

    /// <summary>True when <typeparamref name="TMarker"/> was registered before; registers it otherwise.</summary>
    internal static bool IsRegistered<TMarker>(IHostApplicationBuilder builder) where TMarker : class, new()
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(TMarker)))
        {
            return true;
        }
        builder.Services.AddSingleton(new TMarker());
        return false;
    }

    /// <summary>
    /// Maps <c>/health/live</c>, <c>/health/ready</c> and <c>/metrics</c>, and puts the internal listener's port filter
    /// in front of every later middleware (call it before the host's own routes). Safe to call more than once.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        if (app.Services.GetService<EndpointsMappedMarker>() is { } marker && !marker.TryMark())
        {
            return app;
        }

        app.UseInternalEndpoints();
        // Liveness says only that the process serves requests; a dependency outage must not restart pods.
        app.MapHealthChecks(LivePath, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(LiveTag),
            ResponseWriter = HealthResponseWriter.WriteAsync,
        }).DisableHttpMetrics();
        app.MapHealthChecks(ReadyPath, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(ReadyTag),
            ResponseWriter = HealthResponseWriter.WriteAsync,
        }).DisableHttpMetrics();
        app.MapPrometheusScrapingEndpoint(MetricsPath).DisableHttpMetrics();
        return app;
    }

    private static void ConfigureRunnelLogging(this IHostApplicationBuilder builder)
    {
        if (builder.Configuration.GetValue("Logging:Json", false))
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }
        builder.Logging.AddOpenTelemetry(o =>
        {
            o.IncludeFormattedMessage = true;
            o.IncludeScopes = true;
        });
        // While the hosting layer's category is enabled at any level, it starts an Activity for every request only so
        // that log lines could carry its ids: 4% of the CPU of a PutRecord. It logs request starts and ends (Information)
        // and startup failures (which surface as the host's exception anyway), so it stays on only where the
        // configuration asks for the request lines. With tracing configured the tracer still gives each request its
        // Activity.
        var hostingLevel = builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"]
            ?? builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore.Hosting"]
            ?? builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore"];
        if (!(Enum.TryParse<LogLevel>(hostingLevel, ignoreCase: true, out var level) && level <= LogLevel.Information))
            builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
    }

    private static void ConfigureOpenTelemetry(this IHostApplicationBuilder builder)
    {
        var serviceName = builder.Configuration["OTEL_SERVICE_NAME"] ?? builder.Environment.ApplicationName;
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName, serviceInstanceId: ServiceIdentity.From(builder.Configuration).NodeName))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                // Kestrel's buffer pool records on every rent and return and routing on every match: per-request
                // bookkeeping that cost about as much as http.server.request.duration and tells an operator little.
                .AddView("aspnetcore.memory_pool.*", MetricStreamConfiguration.Drop)
                .AddView("aspnetcore.routing.match_attempts", MetricStreamConfiguration.Drop)
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(TelemetryPrefix)
                .AddMeter("MassTransit")
                .AddPrometheusExporter());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            // Spans are recorded only when they go somewhere: without an exporter every request would still
            // create, tag and drop an activity (a few percent of the CPU of a small PutRecord call).
            otel.WithTracing(tracing => tracing
                    .AddSource(builder.Environment.ApplicationName)
                    .AddSource(TelemetryPrefix)
                    .AddSource("MassTransit")
                    .AddAspNetCoreInstrumentation(o =>
                        o.Filter = ctx => !ctx.Request.Path.StartsWithSegments("/health") && !ctx.Request.Path.StartsWithSegments(MetricsPath))
                    .AddHttpClientInstrumentation())
                .UseOtlpExporter();
        }
    }

    private static void AddDefaultHealthChecks(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<EndpointsMappedMarker>();
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy("process is running"), [LiveTag]);
    }

    private sealed class ServiceDefaultsMarker;

    private sealed class HttpDefaultsMarker;

    private sealed class EndpointsMappedMarker
    {
        private int _mapped;

        public bool TryMark() => Interlocked.Exchange(ref _mapped, 1) == 0;
    }
}
