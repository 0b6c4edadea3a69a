using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Runnel.FanOut.Mappings.Tests;

/// <summary>One record as the function saw it.</summary>
public sealed record ReceivedRecord(string PartitionKey, string SequenceNumber, string Data, JsonElement Raw);

/// <summary>One invocation: its records, the raw body and what the receiver answered.</summary>
public sealed record Invocation(IReadOnlyList<ReceivedRecord> Records, string Body, int Status);

/// <summary>What the receiver answers to a batch: a status and an optional JSON body.</summary>
public sealed record Answer(int Status, string? Body = null)
{
    public static readonly Answer Ok = new(200);
}

/// <summary>
/// The HTTP "function" a mapping delivers to: a Kestrel server on a free loopback port, stood up by the test. It keeps
/// every invocation in arrival order and answers through <see cref="Respond"/>.
/// </summary>
public sealed class Receiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Invocation> _invocations = new();

    public Func<IReadOnlyList<ReceivedRecord>, Answer> Respond { get; set; } = _ => Answer.Ok;

    private Receiver(WebApplication app) => _app = app;

    public string Url { get; private set; } = "";

    public IReadOnlyList<Invocation> Invocations => [.. _invocations];

    /// <summary>Records of the invocations answered with 2xx (all of them: a partial answer still counts its records as seen).</summary>
    public IReadOnlyList<ReceivedRecord> Accepted => [.. _invocations.Where(i => i.Status is >= 200 and < 300).SelectMany(i => i.Records)];

    public static async Task<Receiver> StartAsync(string path = "/fn")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new Receiver(app);
        app.MapPost(path, async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            using var doc = JsonDocument.Parse(body);
            var records = doc.RootElement.GetProperty("Records").EnumerateArray().Select(r =>
            {
                var k = r.GetProperty("kinesis");
                return new ReceivedRecord(k.GetProperty("partitionKey").GetString()!, k.GetProperty("sequenceNumber").GetString()!,
                    k.GetProperty("data").GetString()!, r.Clone());
            }).ToList();
            Answer answer;
            try
            {
                answer = receiver.Respond(records);
            }
            catch (Exception)
            {
                answer = new Answer(500, "{\"errorMessage\":\"handler threw\"}");
            }
            receiver._invocations.Enqueue(new Invocation(records, body, answer.Status));
            http.Response.StatusCode = answer.Status;
            if (answer.Body is not null)
            {
                http.Response.ContentType = "application/json";
                await http.Response.WriteAsync(answer.Body);
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = address.TrimEnd('/') + path;
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
