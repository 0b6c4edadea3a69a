using MassTransit;

namespace Runnel.Ingest.Resharding;

/// <summary>Runs one step per message and publishes the next, so each step is its own unit of delivery.</summary>
public sealed class ReshardConsumer(ReshardExecutor executor) : IConsumer<AdvanceReshard>
{
    public async Task Consume(ConsumeContext<AdvanceReshard> context)
    {
        if (await executor.AdvanceAsync(context.Message.OperationId, context.CancellationToken))
            await context.Publish(context.Message, context.CancellationToken);
    }
}

/// <summary>A failed step (an owner briefly unreachable) is retried a few times before the sweep takes over.</summary>
public sealed class ReshardConsumerDefinition : ConsumerDefinition<ReshardConsumer>
{
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<ReshardConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(r => r.Intervals(100, 500, 1000, 2000, 5000));
    }
}
