using Microsoft.Extensions.Options;

namespace Runnel.Ingest.Capacity;

/// <summary>
/// Publishes what this replica counted to the shared store every <see cref="CapacityOptions.FlushInterval"/>,
/// under the unix second the interval ends in. A failed publish drops that interval's counts (the scaler then
/// sees a little less traffic) rather than holding memory or blocking writes.
/// </summary>
internal sealed partial class TrafficFlushService(
    TrafficRecorder recorder, ITrafficStore store, IOptions<CapacityOptions> options, TimeProvider time, ILogger<TrafficFlushService> logger)
    : BackgroundService
{
    private long _lastWarning;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.FlushInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            await FlushAsync(stoppingToken).ConfigureAwait(false);
    }

    public async Task FlushAsync(CancellationToken ct)
    {
        var samples = recorder.Drain();
        if (samples.Count == 0)
            return;
        try
        {
            await store.PublishAsync(time.GetUtcNow().ToUnixTimeSeconds(), samples, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // At most one warning a minute while the store is away.
            var now = Environment.TickCount64;
            if (now - _lastWarning > 60_000)
            {
                _lastWarning = now;
                LogPublishFailed(logger, e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not publish shard traffic counts; the on-demand scaler and hot-key reports miss this interval.")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception);
}
