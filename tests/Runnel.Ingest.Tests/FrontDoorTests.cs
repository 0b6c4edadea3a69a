using System.Formats.Cbor;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Runnel.TestKit;

namespace Runnel.Ingest.Tests;

/// <summary>
/// What AWS's front end answers before an operation runs, and the envelope details clients read: each case is the
/// status, media type and body AWS gives for the same request.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class FrontDoorTests(StandaloneFixture f)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(HttpResponseMessage Response, byte[] Body)> SendAsync(HttpMethod method, string? target, byte[]? body, string? contentType, Action<HttpRequestMessage>? more = null)
    {
        var request = new HttpRequestMessage(method, "/");
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = contentType is null ? null : MediaTypeHeaderValue.Parse(contentType);
        }
        if (target is not null)
            request.Headers.Add("X-Amz-Target", target);
        more?.Invoke(request);
        var response = await f.Http.SendAsync(request, Ct);
        return (response, await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Every_answer_carries_a_request_id_and_a_host_id()
    {
        var (ok, _) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.ListStreams", "{}"u8.ToArray(), "application/x-amz-json-1.1");
        var (error, _) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.DescribeStream", "{}"u8.ToArray(), "application/x-amz-json-1.1");
        foreach (var response in new[] { ok, error })
        {
            Assert.True(Guid.TryParse(response.Headers.GetValues("x-amzn-RequestId").Single(), out _));
            Assert.NotEmpty(Convert.FromBase64String(response.Headers.GetValues("x-amz-id-2").Single()));
        }
        Assert.NotEqual(ok.Headers.GetValues("x-amz-id-2").Single(), error.Headers.GetValues("x-amz-id-2").Single());
    }

    [Fact]
    public async Task Methods_other_than_post_are_access_denied_in_xml()
    {
        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Put, HttpMethod.Delete })
        {
            var (response, body) = await SendAsync(method, "Kinesis_20131202.ListStreams", null, null);
            Assert.Equal(403, (int)response.StatusCode);
            Assert.Equal("<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be authorized</Message>\n</AccessDeniedException>\n",
                Encoding.UTF8.GetString(body));
        }
    }

    [Fact]
    public async Task An_empty_body_is_a_serialization_fault_for_a_known_operation_and_unknown_otherwise()
    {
        var (known, knownBody) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.ListStreams", [], "application/x-amz-json-1.1");
        Assert.Equal(400, (int)known.StatusCode);
        Assert.Equal("application/x-amz-json-1.1", known.Content.Headers.ContentType?.MediaType);
        Assert.Equal("""{"__type":"SerializationException"}""", Encoding.UTF8.GetString(knownBody));

        var (unknown, unknownBody) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.Nope", [], "application/x-amz-json-1.1");
        Assert.Equal(400, (int)unknown.StatusCode);
        Assert.Equal("""{"__type":"UnknownOperationException"}""", Encoding.UTF8.GetString(unknownBody));

        // Any media type but JSON 1.1 is answered in CBOR.
        var (cbor, cborBody) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.ListStreams", [], "application/json");
        Assert.Equal(400, (int)cbor.StatusCode);
        Assert.Equal("application/x-amz-cbor-1.1", cbor.Content.Headers.ContentType?.MediaType);
        Assert.Equal("SerializationException", CborDocument.Read(cborBody)["__type"]);
    }

    [Fact]
    public async Task A_media_type_the_protocol_does_not_serve_is_refused_as_aws_refuses_it()
    {
        var (withTarget, withTargetBody) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.ListStreams", "{}"u8.ToArray(), "text/plain");
        Assert.Equal(404, (int)withTarget.StatusCode);
        Assert.Equal("<UnknownOperationException/>\n", Encoding.UTF8.GetString(withTargetBody));

        var (noTarget, noTargetBody) = await SendAsync(HttpMethod.Post, null, "{}"u8.ToArray(), "text/plain");
        Assert.Equal(403, (int)noTarget.StatusCode);
        Assert.Contains("<AccessDeniedException>", Encoding.UTF8.GetString(noTargetBody));
    }

    [Fact]
    public async Task Plain_json_gets_the_generic_service_envelope()
    {
        var (obj, objBody) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.ListStreams", "{}"u8.ToArray(), "application/json");
        Assert.Equal(200, (int)obj.StatusCode);
        var output = JsonDocument.Parse(objBody).RootElement;
        Assert.Equal("1.0", output.GetProperty("Version").GetString());
        Assert.Equal("com.amazon.coral.service#UnknownOperationException", output.GetProperty("Output").GetProperty("__type").GetString());

        var (bad, badBody) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.ListStreams", "[1]"u8.ToArray(), "application/json");
        Assert.Equal(200, (int)bad.StatusCode);
        Assert.Equal("com.amazon.coral.service#SerializationException", JsonDocument.Parse(badBody).RootElement.GetProperty("Output").GetProperty("__type").GetString());
    }

    [Fact]
    public async Task An_unknown_operation_answers_its_type_alone()
    {
        foreach (var target in new[] { "Kinesis_20131202.Nope", "Kinesis_20990101.ListStreams", "NoService" })
        {
            var (response, body) = await SendAsync(HttpMethod.Post, target, "{}"u8.ToArray(), "application/x-amz-json-1.1");
            Assert.Equal(400, (int)response.StatusCode);
            Assert.Equal("UnknownOperationException", response.Headers.GetValues("x-amzn-ErrorType").Single());
            Assert.Equal("""{"__type":"UnknownOperationException"}""", Encoding.UTF8.GetString(body));
        }
    }

    [Fact]
    public async Task A_serialization_fault_names_its_text_Message_as_aws_does()
    {
        var (response, body) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.DescribeStream", """{"StreamName":5}"""u8.ToArray(), "application/x-amz-json-1.1");
        Assert.Equal(400, (int)response.StatusCode);
        var error = JsonDocument.Parse(body).RootElement;
        Assert.Equal("SerializationException", error.GetProperty("__type").GetString());
        Assert.Equal("class java.math.BigDecimal can not be converted to an String", error.GetProperty("Message").GetString());
        Assert.False(error.TryGetProperty("message", out _));

        // Service errors keep the lower-case key.
        var (validation, validationBody) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.DescribeStream", "{}"u8.ToArray(), "application/x-amz-json-1.1");
        Assert.Equal(400, (int)validation.StatusCode);
        Assert.True(JsonDocument.Parse(validationBody).RootElement.TryGetProperty("message", out _));
    }

    [Fact]
    public async Task Operations_without_output_answer_an_empty_body_in_json_and_cbor()
    {
        var stream = StandaloneFixture.NewStreamName("fd");
        await f.CreateStreamAsync(stream);
        var (json, jsonBody) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.AddTagsToStream",
            Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { StreamName = stream, Tags = new { a = "1" } })), "application/x-amz-json-1.1");
        Assert.Equal(200, (int)json.StatusCode);
        Assert.Empty(jsonBody);
        Assert.Equal("application/x-amz-json-1.1", json.Content.Headers.ContentType?.MediaType);

        var writer = new CborWriter();
        writer.WriteStartMap(null);
        writer.WriteTextString("StreamName");
        writer.WriteTextString(stream);
        writer.WriteTextString("TagKeys");
        writer.WriteStartArray(1);
        writer.WriteTextString("a");
        writer.WriteEndArray();
        writer.WriteEndMap();
        var (cbor, cborBody) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.RemoveTagsFromStream", writer.Encode(), "application/x-amz-cbor-1.1");
        Assert.Equal(200, (int)cbor.StatusCode);
        Assert.Empty(cborBody);
        var tags = await f.OkAsync("ListTagsForStream", new { StreamName = stream });
        Assert.Equal(0, tags.GetProperty("Tags").GetArrayLength());
    }

    [Fact]
    public async Task Browser_clients_get_cors_preflight_and_exposed_headers()
    {
        var (preflight, preflightBody) = await SendAsync(HttpMethod.Options, null, null, null, r =>
        {
            r.Headers.Add("Origin", "http://console.example");
            r.Headers.Add("Access-Control-Request-Method", "POST");
            r.Headers.Add("Access-Control-Request-Headers", "content-type,x-amz-target,authorization");
        });
        Assert.Equal(200, (int)preflight.StatusCode);
        Assert.Empty(preflightBody);
        Assert.Equal("*", preflight.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("POST", preflight.Headers.GetValues("Access-Control-Allow-Methods").Single());
        Assert.Equal("content-type,x-amz-target,authorization", preflight.Headers.GetValues("Access-Control-Allow-Headers").Single());
        Assert.Equal("172800", preflight.Headers.GetValues("Access-Control-Max-Age").Single());

        var (call, _) = await SendAsync(HttpMethod.Post, "Kinesis_20131202.ListStreams", "{}"u8.ToArray(), "application/x-amz-json-1.1",
            r => r.Headers.Add("Origin", "http://console.example"));
        Assert.Equal(200, (int)call.StatusCode);
        Assert.Equal("*", call.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("x-amzn-RequestId", call.Headers.GetValues("Access-Control-Expose-Headers").Single());
    }
}
