using Microsoft.Extensions.Diagnostics.HealthChecks;
using RabbitMQ.Client;

namespace Runnel.ServiceDefaults.Health;

/// <summary>
/// Ready when the broker completes an AMQP handshake (which also proves the credentials and vhost).
/// The connection is kept and reused while it stays open.
/// </summary>
public sealed class RabbitMqHealthCheck(Uri uri) : IHealthCheck, IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_connection is not { IsOpen: true })
                {
                    if (_connection is not null)
                    {
                        await _connection.DisposeAsync().ConfigureAwait(false);
                        _connection = null;
                    }
                    var factory = new ConnectionFactory
                    {
                        Uri = uri,
                        RequestedConnectionTimeout = DependencyCheckExtensions.CheckTimeout,
                        AutomaticRecoveryEnabled = false,
                        ClientProvidedName = "runnel-health",
                    };
                    _connection = await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
                }
                return HealthCheckResult.Healthy($"connected to {_connection.Endpoint.HostName}:{_connection.Endpoint.Port}");
            }
            finally
            {
                _gate.Release();
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "rabbitmq unreachable", ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
        _gate.Dispose();
    }
}
