using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Runnel.Core.Errors;
using Runnel.FanOut.Consumers;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.TestKit;

namespace Runnel.FanOut.Tests;

/// <summary>The registry over a real (SQLite) metadata store migrated like Standalone's.</summary>
public sealed class ConsumerRegistryTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("fanout-registry");
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
    private ServiceProvider _services = null!;
    private ConsumerRegistry _registry = null!;
    private string _streamArn = "";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _services = new ServiceCollection()
            .AddRunnelMetadata(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Metadata:Provider"] = "Sqlite",
                ["ConnectionStrings:Metadata"] = $"Data Source={_dir.Combine("metadata.db")}",
            }).Build())
            .BuildServiceProvider();
        await MetadataMigrations.MigrateAsync(_services, Ct);
        var factory = _services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
        await using (var db = await factory.CreateDbContextAsync(Ct))
        {
            db.Streams.Add(new StreamEntity { Name = "orders", Status = StreamStatuses.Active, CreatedAt = _time.GetUtcNow() });
            await db.SaveChangesAsync(Ct);
        }
        _registry = new ConsumerRegistry(factory, Options.Create(new FanOutOptions { MaxConsumersPerStream = 3, ConsumerActivationMilliseconds = 1000 }), _time);
        _streamArn = _registry.StreamArn("orders");
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Registers_as_CREATING_then_reads_ACTIVE_after_the_activation_delay()
    {
        var c = await _registry.RegisterAsync(_streamArn, "app-1", Ct);
        Assert.Equal(ConsumerStatuses.Creating, c.Status);
        Assert.Equal($"{_streamArn}/consumer/app-1:1700000000", c.Arn);
        Assert.Equal(ConsumerStatuses.Creating, (await _registry.DescribeAsync(null, null, c.Arn, Ct)).Status);
        _time.Advance(TimeSpan.FromSeconds(1));
        var described = await _registry.DescribeAsync(_streamArn, "app-1", null, Ct);
        Assert.Equal(ConsumerStatuses.Active, described.Status);
        Assert.Equal(c.Arn, described.Arn);
        Assert.Equal(_streamArn, described.StreamArn);
    }

    [Fact]
    public async Task A_duplicate_name_is_ResourceInUse_and_the_limit_is_LimitExceeded()
    {
        await _registry.RegisterAsync(_streamArn, "a", Ct);
        var duplicate = await Assert.ThrowsAsync<KinesisException>(() => _registry.RegisterAsync(_streamArn, "a", Ct));
        Assert.Equal(ErrorTypes.ResourceInUse, duplicate.Type);
        await _registry.RegisterAsync(_streamArn, "b", Ct);
        await _registry.RegisterAsync(_streamArn, "c", Ct);
        var limit = await Assert.ThrowsAsync<KinesisException>(() => _registry.RegisterAsync(_streamArn, "d", Ct));
        Assert.Equal(ErrorTypes.LimitExceeded, limit.Type);
    }

    [Fact]
    public async Task Validates_names_and_streams()
    {
        var bad = await Assert.ThrowsAsync<KinesisException>(() => _registry.RegisterAsync(_streamArn, "no spaces", Ct));
        Assert.Equal(ErrorTypes.Validation, bad.Type);
        var missing = await Assert.ThrowsAsync<KinesisException>(() => _registry.RegisterAsync(_registry.StreamArn("nope"), "a", Ct));
        Assert.Equal(ErrorTypes.ResourceNotFound, missing.Type);
        var both = await Assert.ThrowsAsync<KinesisException>(() => _registry.DescribeAsync(_streamArn, "a", "arn:x", Ct));
        Assert.Equal(ErrorTypes.InvalidArgument, both.Type);
    }

    [Fact]
    public async Task Lists_in_pages_and_deregisters()
    {
        var a = await _registry.RegisterAsync(_streamArn, "a", Ct);
        await _registry.RegisterAsync(_streamArn, "b", Ct);
        await _registry.RegisterAsync(_streamArn, "c", Ct);
        var first = await _registry.ListAsync(_streamArn, 2, null, Ct);
        Assert.Equal(["a", "b"], first.Consumers.Select(c => c.Name));
        Assert.NotNull(first.NextToken);
        var second = await _registry.ListAsync(_streamArn, 2, first.NextToken, Ct);
        Assert.Equal(["c"], second.Consumers.Select(c => c.Name));
        Assert.Null(second.NextToken);

        await _registry.DeregisterAsync(null, null, a.Arn, Ct);
        var gone = await Assert.ThrowsAsync<KinesisException>(() => _registry.DescribeAsync(null, null, a.Arn, Ct));
        Assert.Equal(ErrorTypes.ResourceNotFound, gone.Type);
        Assert.Equal(["b", "c"], (await _registry.ListAsync(_streamArn, null, null, Ct)).Consumers.Select(c => c.Name));
    }

    [Fact]
    public void Parses_consumer_arns()
    {
        Assert.True(ConsumerRegistry.TryParseConsumerArn("arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/app.1:1700000000", out var stream, out var name));
        Assert.Equal("orders", stream);
        Assert.Equal("app.1", name);
        Assert.False(ConsumerRegistry.TryParseConsumerArn("arn:aws:kinesis:us-east-1:000000000000:stream/orders", out _, out _));
        Assert.False(ConsumerRegistry.TryParseConsumerArn("arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/app:x", out _, out _));
    }
}
