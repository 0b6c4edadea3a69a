using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Runnel.Core.Errors;
using Runnel.Gateway;

namespace Runnel.Ingest.Auth;

/// <summary>
/// Key management on the public port, under <c>/v1/access-keys</c> (see docs/security.md). Every call is signed and
/// authorized like any other (<c>runnel:CreateAccessKey</c>, ...), so only a principal whose policy allows those actions,
/// such as the bootstrap administrator, can manage keys. Secrets are returned once, by CreateAccessKey.
/// </summary>
internal static partial class AccessKeysApi
{
    public const string Prefix = "/v1/access-keys";

    public static void MapAccessKeys(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup(Prefix).WithTags("AccessKeys");
        group.MapPost("/", (HttpContext http, AccessKeyStore keys) => RunAsync(http, async ct =>
        {
            using var body = await BodyAsync(http, ct);
            var root = body.RootElement;
            var userName = Text(root, "UserName") ?? throw Validation("UserName is required.");
            if (!UserNamePattern().IsMatch(userName))
                throw Validation("UserName must be 1 to 64 characters of letters, digits and +=,.@_-.");
            var id = Text(root, "AccessKeyId");
            if (id is not null && !KeyIdPattern().IsMatch(id))
                throw Validation("AccessKeyId must be 16 to 128 letters, digits or underscores.");
            var secret = Text(root, "SecretAccessKey");
            if (secret is not null && secret.Length is < 16 or > 128)
                throw Validation("SecretAccessKey must be 16 to 128 characters.");
            var policy = root.TryGetProperty("PolicyDocument", out var p) ? PolicyText(p) : null;
            try
            {
                var (key, created) = await keys.CreateAsync(userName, policy, Text(root, "Description"), id, secret, ct);
                return w =>
                {
                    w.WriteStartObject("AccessKey");
                    WriteSummary(w, key);
                    w.WriteString("SecretAccessKey", created);
                    w.WriteEndObject();
                };
            }
            catch (DbUpdateException) when (id is not null)
            {
                if (!await keys.ExistsAsync(id, ct))
                    throw;
                throw new KinesisException("EntityAlreadyExistsException", $"Access key {id} already exists.", 409);
            }
        }));
        group.MapGet("/", (HttpContext http, AccessKeyStore keys) => RunAsync(http, async ct =>
        {
            var list = await keys.ListAsync(ct);
            return w =>
            {
                w.WriteStartArray("AccessKeys");
                foreach (var key in list)
                {
                    w.WriteStartObject();
                    WriteSummary(w, key);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            };
        }));
        group.MapGet("/{id}", (HttpContext http, string id, AccessKeyStore keys) => RunAsync(http, async ct =>
        {
            var key = await keys.GetAsync(id, ct) ?? throw NoSuchKey(id);
            return w =>
            {
                w.WriteStartObject("AccessKey");
                WriteSummary(w, key);
                if (key.PolicyDocument is not null)
                    w.WriteString("PolicyDocument", key.PolicyDocument);
                w.WriteEndObject();
            };
        }));
        group.MapDelete("/{id}", (HttpContext http, string id, AccessKeyStore keys) => RunAsync(http, async ct =>
        {
            if (!await keys.DeleteAsync(id, ct))
                throw NoSuchKey(id);
            return null;
        }));
        group.MapPut("/{id}/policy", (HttpContext http, string id, AccessKeyStore keys) => RunAsync(http, async ct =>
        {
            using var body = await BodyAsync(http, ct);
            if (!await keys.PutPolicyAsync(id, PolicyText(body.RootElement), ct))
                throw NoSuchKey(id);
            return null;
        }));
        group.MapDelete("/{id}/policy", (HttpContext http, string id, AccessKeyStore keys) => RunAsync(http, async ct =>
        {
            if (!await keys.PutPolicyAsync(id, null, ct))
                throw NoSuchKey(id);
            return null;
        }));
    }

    /// <summary>The action name of a key management request (<c>runnel:&lt;name&gt;</c> in policies).</summary>
    public static string OperationOf(string method, string[] segments) => (method, segments.Length) switch
    {
        ("POST", _) => "CreateAccessKey",
        ("GET", 2) => "ListAccessKeys",
        ("GET", _) => "GetAccessKey",
        ("DELETE", 3) => "DeleteAccessKey",
        ("PUT", _) => "PutAccessKeyPolicy",
        ("DELETE", _) => "DeleteAccessKeyPolicy",
        _ => "ManageAccessKeys",
    };

    /// <summary>A policy given as a JSON object or as a string holding one; it must parse.</summary>
    private static string PolicyText(JsonElement value)
    {
        var text = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Object => value.GetRawText(),
            _ => throw new KinesisException("MalformedPolicyDocumentException", "The policy document must be a JSON object."),
        };
        try
        {
            AccessPolicy.Parse(text);
        }
        catch (FormatException e)
        {
            throw new KinesisException("MalformedPolicyDocumentException", e.Message);
        }
        return text;
    }

    private static void WriteSummary(Utf8JsonWriter w, AccessKeySummary key)
    {
        w.WriteString("AccessKeyId", key.AccessKeyId);
        w.WriteString("UserName", key.UserName);
        w.WriteString("Arn", key.UserArn);
        w.WriteString("CreateDate", key.CreatedAt.UtcDateTime.ToString("O"));
        if (key.Description is not null)
            w.WriteString("Description", key.Description);
    }

    private static string? Text(JsonElement root, string member) =>
        root.TryGetProperty(member, out var value) ? value.ValueKind == JsonValueKind.String ? value.GetString() : throw Validation($"{member} must be a string.") : null;

    private static KinesisException Validation(string message) => new(ErrorTypes.Validation, message);

    private static KinesisException NoSuchKey(string id) => new("NoSuchEntityException", $"The access key {id} cannot be found.", 404);

    private static async Task<JsonDocument> BodyAsync(HttpContext http, CancellationToken ct)
    {
        try
        {
            var document = await JsonDocument.ParseAsync(http.Request.Body, default, ct);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw KinesisException.Serialization("The body must be a JSON object.");
            }
            return document;
        }
        catch (JsonException)
        {
            throw KinesisException.Serialization("The body is not valid JSON.");
        }
    }

    /// <summary>Runs one call and answers 200 with the members it writes (an empty object for none), or the error.</summary>
    private static async Task RunAsync(HttpContext http, Func<CancellationToken, Task<Action<Utf8JsonWriter>?>> action)
    {
        try
        {
            var members = await action(http.RequestAborted);
            http.Response.StatusCode = 200;
            http.Response.ContentType = "application/json";
            // Secrets hold '+' and '/', which the default encoder would escape as \u002B.
            await using var w = new Utf8JsonWriter(http.Response.BodyWriter, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            w.WriteStartObject();
            members?.Invoke(w);
            w.WriteEndObject();
            await w.FlushAsync(http.RequestAborted);
        }
        catch (KinesisException e)
        {
            if (!http.Response.HasStarted)
                await AwsAnswers.WriteErrorAsync(http, WireFormat.Json, e.Type, e.Message, e.StatusCode);
        }
    }

    [GeneratedRegex(@"^[\w+=,.@-]{1,64}$")]
    private static partial Regex UserNamePattern();

    [GeneratedRegex(@"^\w{16,128}$")]
    private static partial Regex KeyIdPattern();
}
