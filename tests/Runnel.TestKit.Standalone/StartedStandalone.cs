using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Runnel.ShardStore.Registration;
using Runnel.Standalone;

namespace Runnel.TestKit.Standalone;

/// <summary>
/// Standalone hosted in the test process on a real Kestrel socket: built from command-line style settings, its
/// metadata prepared, started, and ready once its shard store node is registered (streams need a live node).
/// Disposing stops the host, then disposes it.
/// </summary>
public sealed class StartedStandalone : IAsyncDisposable
{
    private readonly WebApplication _app;
    private bool _started;

    private StartedStandalone(WebApplication app) => _app = app;

    public IServiceProvider Services => _app.Services;

    /// <summary>The address the server listens on (a free port when the settings ask for port 0).</summary>
    public Uri Address { get; private set; } = null!;

    public static async Task<StartedStandalone> StartAsync(string[] args, Action<WebApplicationBuilder>? configure = null, CancellationToken cancellationToken = default)
    {
        var host = new StartedStandalone(StandaloneHost.Build(args, configure));
        try
        {
            await StandaloneHost.PrepareAsync(host._app, cancellationToken);
            await host._app.StartAsync(cancellationToken);
            host._started = true;
            var address = host._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            host.Address = new Uri(address);
            var registration = host._app.Services.GetRequiredService<NodeRegistrationService>();
            await Wait.UntilAsync(() => registration.IsRegistered, TimeSpan.FromSeconds(30), "the shard store node to register", cancellationToken: cancellationToken);
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_started)
        {
            _started = false;
            await _app.StopAsync();
        }
        await _app.DisposeAsync();
    }
}
