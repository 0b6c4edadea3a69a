using Runnel.Firehose.Apis;
using Runnel.ServiceDefaults;

namespace Runnel.Firehose;

/// <summary>Delivery streams: buffers records and writes them to S3, HTTP endpoints or PostgreSQL.</summary>
public static class Extensions
{
    /// <summary>Registers the module. Assumes <c>AddServiceDefaults</c> ran; safe to compose with other modules.</summary>
    public static IHostApplicationBuilder AddFirehose(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<FirehoseOptions>()
            .BindConfiguration(FirehoseOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(new FirehoseStartTime(TimeProvider.System.GetUtcNow()));
        builder.AddRunnelDependencyChecks();
        return builder;
    }

    public static IEndpointRouteBuilder MapFirehose(this IEndpointRouteBuilder app) => app.MapFirehoseApi();
}
