using DotNet.Testcontainers.Containers;
using Testcontainers.PostgreSql;
using Testcontainers.RabbitMq;
using Testcontainers.Redis;

namespace Runnel.TestKit;

/// <summary>Where an S3-compatible server answers, with the keys it accepts.</summary>
public sealed record S3Server(Uri Endpoint, string AccessKey, string SecretKey);

/// <summary>
/// The real servers tests run against. Each comes from its RUNNEL_TEST_* variable (set by
/// <c>.ci/run</c>, or by <c>eval "$(.ci/servers env)"</c> after <c>.ci/servers start</c>); when the
/// variable is absent and a Docker engine answers, a container is started once per test process.
/// Otherwise the call throws: a missing server fails the test, it never skips it.
/// </summary>
public static class TestServers
{
    public const string PostgresVariable = "RUNNEL_TEST_POSTGRES";
    public const string RedisVariable = "RUNNEL_TEST_REDIS";
    public const string RabbitMqVariable = "RUNNEL_TEST_RABBITMQ";
    public const string S3Variable = "RUNNEL_TEST_S3";
    public const string S3AccessKeyVariable = "RUNNEL_TEST_S3_ACCESS_KEY";
    public const string S3SecretKeyVariable = "RUNNEL_TEST_S3_SECRET_KEY";
    public const string AwsCliVariable = "RUNNEL_AWS_CLI";

    private static readonly Lazy<Task<string>> PostgresContainer = new(
        () => StartContainerAsync(new PostgreSqlBuilder("postgres:15-alpine").Build(), c => c.GetConnectionString()));

    private static readonly Lazy<Task<string>> RedisContainer = new(
        () => StartContainerAsync(new RedisBuilder("redis:7-alpine").Build(), c => $"{c.Hostname}:{c.GetMappedPublicPort(6379)}"));

    private static readonly Lazy<Task<string>> RabbitMqContainer = new(
        () => StartContainerAsync(new RabbitMqBuilder("rabbitmq:3.13-alpine").Build(), c => c.GetConnectionString()));

    /// <summary>An Npgsql connection string to a server where the test may CREATE DATABASE.</summary>
    public static Task<string> PostgresAsync() => FromEnvironmentOrContainer(PostgresVariable, "PostgreSQL", PostgresContainer);

    /// <summary>Redis as host:port.</summary>
    public static Task<string> RedisAsync() => FromEnvironmentOrContainer(RedisVariable, "Redis", RedisContainer);

    /// <summary>RabbitMQ as an amqp:// URI with credentials.</summary>
    public static Task<string> RabbitMqAsync() => FromEnvironmentOrContainer(RabbitMqVariable, "RabbitMQ", RabbitMqContainer);

    /// <summary>An S3-compatible endpoint (path-style, plain HTTP). No container fallback: set the variables.</summary>
    public static S3Server S3()
    {
        var endpoint = Require(S3Variable, "an S3-compatible server (http endpoint)");
        var access = Require(S3AccessKeyVariable, "the S3 access key");
        var secret = Require(S3SecretKeyVariable, "the S3 secret key");
        return new S3Server(new Uri(endpoint), access, secret);
    }

    /// <summary>Full path of the AWS CLI v2 executable.</summary>
    public static string AwsCli()
    {
        var path = Require(AwsCliVariable, "the AWS CLI v2 executable (full path)");
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"{AwsCliVariable} points at '{path}', which does not exist. {HowToStart}");
        }

        return path;
    }

    /// <summary>Reads a variable or throws a message that names it and how to provide it.</summary>
    public static string Require(string variable, string what)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new InvalidOperationException($"This test needs {what}: set {variable}. {HowToStart}");
        }

        return value;
    }

    private const string HowToStart =
        "Run the whole suite with `bash .ci/run`, or start local servers with `.ci/servers start` and then " +
        "`eval \"$(.ci/servers env)\"` before `dotnet test`. See docs/testing.md.";

    private static async Task<string> FromEnvironmentOrContainer(string variable, string what, Lazy<Task<string>> container)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrWhiteSpace(value))
        {
            return value;
        }

        if (!await DockerProbe.IsAvailableAsync().ConfigureAwait(false))
        {
            throw new InvalidOperationException(
                $"This test needs {what}: set {variable} (no Docker engine answered for a container fallback). {HowToStart}");
        }

        return await container.Value.ConfigureAwait(false);
    }

    private static async Task<string> StartContainerAsync<T>(T container, Func<T, string> address)
        where T : IContainer
    {
        // Containers live as long as the test process; Testcontainers' reaper removes them after it exits.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await container.StartAsync(timeout.Token).ConfigureAwait(false);
        return address(container);
    }
}
