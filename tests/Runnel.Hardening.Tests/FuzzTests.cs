using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;

namespace Runnel.Hardening.Tests;

/// <summary>
/// A seeded corpus of malformed requests across every operation and protocol (JSON 1.1, CBOR 1.1, the REST records
/// route, Lambda's mapping route, and broken HTTP/1.1 framing over raw sockets). None may answer 5xx, and the server
/// must serve a well-formed request afterwards.
/// </summary>
[Collection(HardeningCollection.Name)]
public sealed class FuzzTests(HardeningFixture f)
{
    private const int Seed = 15;
    private const int BodyRequests = 5000;
    private const int FramingRequests = 400;

    [Fact]
    public async Task Five_thousand_malformed_requests_get_no_5xx_and_the_server_stays_up()
    {
        var ct = TestContext.Current.CancellationToken;
        var stream = HardeningFixture.NewStreamName("fuzz");
        await f.CreateStreamAsync(stream, 2);
        var arn = (await f.OkAsync("DescribeStreamSummary", new { StreamName = stream })).GetProperty("StreamDescriptionSummary").GetProperty("StreamARN").GetString()!;
        var consumer = (await f.OkAsync("RegisterStreamConsumer", new { StreamARN = arn, ConsumerName = "fuzz" })).GetProperty("Consumer").GetProperty("ConsumerARN").GetString()!;

        var corpus = new FuzzCorpus(Seed, stream, arn, consumer).Generate(BodyRequests).ToList();
        Assert.Equal(FuzzCorpus.Operations.Length, corpus.Where(r => r.Kind is "json" or "cbor").Select(r => r.Operation).Distinct().Count());
        var faults = new ConcurrentQueue<string>();
        var sent = 0;
        // Four at a time: enough to overlap parsing with the metadata store on two cores.
        await Parallel.ForEachAsync(corpus, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (request, token) =>
        {
            using var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Path) { Content = new ByteArrayContent(request.Body) };
            message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(request.ContentType);
            if (request.Kind is "json" or "cbor")
                message.Headers.TryAddWithoutValidation("X-Amz-Target", "Kinesis_20131202." + request.Operation);
            using var response = await f.Http.SendAsync(message, token);
            var body = await response.Content.ReadAsStringAsync(token);
            Interlocked.Increment(ref sent);
            if ((int)response.StatusCode >= 500)
                faults.Enqueue($"{(int)response.StatusCode} {body[..Math.Min(200, body.Length)]} <- {request}");
        });

        var framing = FramingCorpus(new Random(Seed), stream).ToList();
        await Parallel.ForEachAsync(framing, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (request, _) =>
        {
            var raw = await f.RawAsync(request);
            Interlocked.Increment(ref sent);
            // An HTTP version the server does not speak is answered 505 (RFC 9110, 15.6.6): the protocol's own refusal.
            var versionRefused = Encoding.Latin1.GetString(request).Split("\r\n")[0].EndsWith(" HTTP/9.9", StringComparison.Ordinal) ? 505 : 0;
            foreach (var status in HardeningFixture.Statuses(raw).Where(s => s >= 500 && s != versionRefused))
                faults.Enqueue($"{status} <- raw {Encoding.UTF8.GetString(request[..Math.Min(200, request.Length)])}");
        });

        Assert.True(faults.IsEmpty, $"{faults.Count} of {sent} requests answered 5xx; the first:\n{string.Join("\n", faults.Take(15))}");
        Assert.True(sent >= BodyRequests + FramingRequests);

        var put = await f.CallAsync("PutRecord", new { StreamName = stream, PartitionKey = "after", Data = "AQID" });
        Assert.True(put.Status == 200, $"PutRecord after the corpus: {put.Status} {put.Text}");
        using var health = await f.Http.GetAsync("/health/ready", ct);
        Assert.True(health.IsSuccessStatusCode, $"/health/ready after the corpus: {(int)health.StatusCode}");
    }

    /// <summary>HTTP/1.1 requests whose framing is broken: request line, headers, lengths and chunks.</summary>
    private static IEnumerable<byte[]> FramingCorpus(Random random, string stream)
    {
        var body = $$"""{"StreamName":"{{stream}}","PartitionKey":"k","Data":"AA=="}""";
        string[] targets = ["/", $"/v1/streams/{stream}/records", "/2015-03-31/event-source-mappings/"];
        string[] requestLines = ["POST {0} HTTP/1.1", "POST {0} HTTP/1.0", "POST {0} HTTP/9.9", "P\u00d6ST {0} HTTP/1.1", "POST  {0} HTTP/1.1", "POST {0}", "POST http://x{0} HTTP/1.1", "GET {0} HTTP/1.1", "POST {0}\u0000 HTTP/1.1"];
        for (var i = 0; i < FramingRequests; i++)
        {
            var target = targets[random.Next(targets.Length)];
            var line = random.Next(4) == 0 ? string.Format(requestLines[random.Next(requestLines.Length)], target) : $"POST {target} HTTP/1.1";
            var headers = new List<string> { "Host: x", "Content-Type: application/x-amz-json-1.1", "X-Amz-Target: Kinesis_20131202.PutRecord" };
            var payload = body;
            switch (random.Next(12))
            {
                case 0:
                    headers.Add("Transfer-Encoding: chunked");
                    payload = $"{random.Next(1, 0x7FFFFFFF):X}\r\n{body}\r\n0\r\n\r\n";
                    break;
                case 1:
                    headers.Add("Transfer-Encoding: chunked");
                    payload = $"{body.Length:X}\r\n{body[..(body.Length / 2)]}";
                    break;
                case 2:
                    headers.Add("Transfer-Encoding: chunked");
                    payload = $"{new string('F', random.Next(9, 40))}\r\n{body}\r\n0\r\n\r\n";
                    break;
                case 3:
                    headers.Add("Transfer-Encoding: chunked");
                    payload = $"{body.Length:X};{new string('e', random.Next(1, 10000))}\r\n{body}\r\n0\r\n\r\n";
                    break;
                case 4:
                    headers.Add($"Content-Length: {body.Length + random.Next(1, 100000)}");
                    break;
                case 5:
                    headers.Add($"Content-Length: {body.Length}");
                    headers.Add("Transfer-Encoding: chunked");
                    break;
                case 6:
                    headers.Add($"Content-Length: {random.Next(-5, 0)}");
                    break;
                case 7:
                    headers.Add($"X-Long: {new string('h', random.Next(1000, 70000))}");
                    headers.Add($"Content-Length: {body.Length}");
                    break;
                case 8:
                    headers.Add("Bad Header Name: v");
                    headers.Add($"Content-Length: {body.Length}");
                    break;
                case 9:
                    headers.Add($"Content-Length: {body.Length}");
                    headers.Add("Expect: 100-continue");
                    payload = "";
                    break;
                case 10:
                    headers.Add("Transfer-Encoding: chunked");
                    payload = $"{body.Length:X}\r\n{body}XX0\r\n\r\n";
                    break;
                default:
                    headers.Add($"Content-Length: {body.Length}");
                    var cut = random.Next(body.Length);
                    payload = body[..cut];
                    break;
            }
            var text = line + "\r\n" + string.Join("\r\n", headers) + "\r\n\r\n" + payload;
            yield return Encoding.Latin1.GetBytes(text);
        }
    }
}
