using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Runnel.TestKit;

namespace Runnel.ServiceDefaults.Tests;

/// <summary>A message in the Runnel.* namespace; MassTransit rejects message types without one.</summary>
public sealed record MessagingProbe(Guid Id);

public sealed class MessagingProbeConsumer(ProbeInbox inbox) : IConsumer<MessagingProbe>
{
    public Task Consume(ConsumeContext<MessagingProbe> context)
    {
        inbox.Received.TrySetResult(context.Message.Id);
        return Task.CompletedTask;
    }
}

public sealed class ProbeInbox
{
    public TaskCompletionSource<Guid> Received { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

public sealed class MessagingTests
{
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task PublishAndReceiveAsync(Dictionary<string, string?> configuration)
    {
        var inbox = new ProbeInbox();
        await using var host = await TestHost.StartAsync(configuration, builder =>
        {
            builder.Services.AddSingleton(inbox);
            // A queue of its own per run, so runs never consume each other's messages.
            builder.AddRunnelMessaging(x => x.AddConsumer<MessagingProbeConsumer>()
                .Endpoint(e => e.Name = $"runnel-test-probe-{Guid.NewGuid():N}"));
        });

        // The bus starts in the background; a message published before its queue is bound would be
        // dropped by the broker. MassTransit's bus check joins /health/ready, so ready means bound.
        await Wait.UntilAsync(async () =>
        {
            using var ready = await host.Client.GetAsync("/health/ready", Ct);
            var body = await ready.Content.ReadAsStringAsync(Ct);
            return ready.IsSuccessStatusCode && body.Contains("masstransit", StringComparison.OrdinalIgnoreCase);
        }, DeliveryTimeout, "the bus to be ready", cancellationToken: Ct);

        var id = Guid.NewGuid();
        await host.App.Services.GetRequiredService<IPublishEndpoint>().Publish(new MessagingProbe(id), Ct);
        Assert.Equal(id, await inbox.Received.Task.WaitAsync(DeliveryTimeout, Ct));
    }

    [Fact]
    public async Task In_memory_bus_when_no_broker_is_configured() =>
        await PublishAndReceiveAsync([]);

    [Fact]
    public async Task RabbitMq_bus_when_a_broker_is_configured()
    {
        var rabbit = await TestServers.RabbitMqAsync();
        await PublishAndReceiveAsync(new Dictionary<string, string?> { ["ConnectionStrings:RabbitMq"] = rabbit });
    }
}
