using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Runnel.ServiceDefaults.Health;

/// <summary>
/// Ready when Redis answers PING. Uses the application's multiplexer when one is registered; otherwise
/// keeps one of its own, built on first use and rebuilt after a failed connect.
/// </summary>
public sealed class RedisHealthCheck(string configuration, IServiceProvider services) : IHealthCheck, IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ConnectionMultiplexer? _own;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var multiplexer = services.GetService(typeof(IConnectionMultiplexer)) as IConnectionMultiplexer
                ?? await OwnAsync(cancellationToken).ConfigureAwait(false);
            var latency = await multiplexer.GetDatabase().PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "redis unreachable", ex);
        }
    }

    private async Task<IConnectionMultiplexer> OwnAsync(CancellationToken cancellationToken)
    {
        if (_own is { IsConnected: true } connected)
        {
            return connected;
        }
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_own is { IsConnected: true } raced)
            {
                return raced;
            }
            if (_own is not null)
            {
                await _own.DisposeAsync().ConfigureAwait(false);
                _own = null;
            }
            var options = ConfigurationOptions.Parse(configuration);
            // Fail the probe quickly instead of retrying in the background: readiness wants a yes or no now.
            options.AbortOnConnectFail = true;
            options.ConnectTimeout = (int)DependencyCheckExtensions.CheckTimeout.TotalMilliseconds;
            options.ConnectRetry = 0;
            _own = await ConnectionMultiplexer.ConnectAsync(options).WaitAsync(cancellationToken).ConfigureAwait(false);
            return _own;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_own is not null)
        {
            await _own.DisposeAsync().ConfigureAwait(false);
        }
        _gate.Dispose();
    }
}
