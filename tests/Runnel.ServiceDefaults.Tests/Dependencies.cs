using Minio;
using Minio.DataModel.Args;
using Runnel.TestKit;

namespace Runnel.ServiceDefaults.Tests;

/// <summary>Configuration pointing at the real test servers, and the same with one of them replaced by a closed port.</summary>
public sealed class Dependencies : IAsyncLifetime
{
    private PostgresDatabase? _database;

    public Dictionary<string, string?> Configuration { get; } = [];

    public string Bucket { get; } = $"runnel-health-{Guid.NewGuid().ToString("N")[..12]}";

    public S3Server S3 { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await PostgresDatabase.CreateAsync("defaults", TestContext.Current.CancellationToken);
        S3 = TestServers.S3();
        Configuration["Metadata:Provider"] = "Postgres";
        Configuration["ConnectionStrings:Metadata"] = _database.ConnectionString;
        Configuration["ConnectionStrings:Redis"] = await TestServers.RedisAsync();
        Configuration["ConnectionStrings:RabbitMq"] = await TestServers.RabbitMqAsync();
        Configuration["S3:Endpoint"] = S3.Endpoint.ToString();
        Configuration["S3:AccessKey"] = S3.AccessKey;
        Configuration["S3:SecretKey"] = S3.SecretKey;
        Configuration["S3:Bucket"] = Bucket;

        using var minio = new MinioClient()
            .WithEndpoint(S3.Endpoint.Host, S3.Endpoint.Port)
            .WithCredentials(S3.AccessKey, S3.SecretKey)
            .WithSSL(false)
            .Build();
        await minio.MakeBucketAsync(new MakeBucketArgs().WithBucket(Bucket), TestContext.Current.CancellationToken);
    }

    /// <summary>The real configuration with <paramref name="dependency"/> pointed at a port nothing listens on.</summary>
    public Dictionary<string, string?> WithClosedPort(string dependency)
    {
        var port = FreePorts.Get();
        var copy = new Dictionary<string, string?>(Configuration);
        switch (dependency)
        {
            case "metadata":
                copy["ConnectionStrings:Metadata"] = $"Host=127.0.0.1;Port={port};Username=postgres;Database=runnel;Timeout=2";
                break;
            case "redis":
                copy["ConnectionStrings:Redis"] = $"127.0.0.1:{port}";
                break;
            case "rabbitmq":
                copy["ConnectionStrings:RabbitMq"] = $"amqp://guest:guest@127.0.0.1:{port}/";
                break;
            case "s3":
                copy["S3:Endpoint"] = $"http://127.0.0.1:{port}";
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dependency), dependency, null);
        }
        return copy;
    }

    public async ValueTask DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}
