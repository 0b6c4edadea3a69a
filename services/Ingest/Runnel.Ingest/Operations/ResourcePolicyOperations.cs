using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Gateway;
using Runnel.Ingest.Auth;
using Runnel.Ingest.Options;
using Runnel.Metadata;
using Runnel.Metadata.Configurations;
using Runnel.Metadata.Entities;

namespace Runnel.Ingest.Operations;

/// <summary>
/// PutResourcePolicy, GetResourcePolicy and DeleteResourcePolicy: the resource-based policy of a stream or of a
/// registered consumer, kept in the metadata store and weighed by <see cref="RequestAuthorizer"/> together with the
/// caller's identity policy.
/// </summary>
internal sealed partial class ResourcePolicyOperations(
    IDbContextFactory<MetadataDbContext> dbFactory,
    ResourcePolicyStore policies,
    IOptions<RunnelOptions> runnel,
    TimeProvider time) : IAwsOperations
{
    /// <summary>What GetResourcePolicy answers for a resource without a policy.</summary>
    public const string NoPolicy = "{}";

    public string Service => "kinesis-resource-policies";

    public string TargetPrefix => AwsServices.KinesisPrefix;

    public bool Handles(string operation) => operation is "PutResourcePolicy" or "GetResourcePolicy" or "DeleteResourcePolicy";

    private string Account => runnel.Value.AccountId;

    // AWS's pattern for ResourceARN: a stream or a consumer of one.
    [GeneratedRegex(@"^arn:aws.*:kinesis:.*:\d{12}:.*stream\/\S+$")]
    private static partial Regex ResourceArnPattern();

    public async Task HandleAsync(AwsRequest request)
    {
        string? arn, document;
        using (var doc = request.ReadDocument())
        {
            var q = doc.RootElement;
            if (q.ValueKind != JsonValueKind.Object)
                throw KinesisException.Serialization("Start of structure or map expected.");
            arn = Text(q, "ResourceARN");
            document = Text(q, "Policy");
        }
        var put = request.Operation == "PutResourcePolicy";
        var violations = new List<string>();
        if (arn is null)
            violations.Add("Value null at 'resourceARN' failed to satisfy constraint: Member must not be null");
        else if (arn.Length is < 1 or > 2048)
            violations.Add($"Value '{arn}' at 'resourceARN' failed to satisfy constraint: Member must have length between 1 and 2048 inclusive");
        else if (!ResourceArnPattern().IsMatch(arn))
            violations.Add($"Value '{arn}' at 'resourceARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{{12}}:.*stream\\/\\S+");
        if (put && document is null)
            violations.Add("Value null at 'policy' failed to satisfy constraint: Member must not be null");
        if (violations.Count > 0)
            throw KinesisException.Validation(violations);

        await using var db = await dbFactory.CreateDbContextAsync(request.Aborted);
        var (streamId, consumerId) = await FindResourceAsync(db, arn!, request.Aborted);
        switch (request.Operation)
        {
            case "PutResourcePolicy":
                Validate(arn!, document!);
                await PutAsync(db, arn!, streamId, consumerId, document!, request.Aborted);
                await AwsAnswers.WriteEmptyAsync(request);
                break;
            case "GetResourcePolicy":
                var stored = await db.ResourcePolicies.AsNoTracking().Where(p => p.ResourceArn == arn).Select(p => p.Document).FirstOrDefaultAsync(request.Aborted);
                await AwsAnswers.WriteAsync(request, w => w.String("Policy", stored ?? NoPolicy));
                break;
            default:
                if (await db.ResourcePolicies.Where(p => p.ResourceArn == arn).ExecuteDeleteAsync(request.Aborted) == 0)
                    throw KinesisException.ResourceNotFound($"No resource policy found for resource {arn} under account {Account}.");
                policies.Invalidate();
                await AwsAnswers.WriteEmptyAsync(request);
                break;
        }
    }

    /// <summary>The stream (and consumer) the ARN names in this account, or ResourceNotFoundException.</summary>
    private async Task<(long StreamId, long? ConsumerId)> FindResourceAsync(MetadataDbContext db, string arn, CancellationToken ct)
    {
        var parts = arn.Split(':', 6);
        var resource = parts[5];
        var consumerAt = resource.IndexOf("/consumer/", StringComparison.Ordinal);
        var name = resource["stream/".Length..(consumerAt >= 0 ? consumerAt : resource.Length)];
        var stream = parts[4] != Account ? null
            : await db.Streams.AsNoTracking().Where(s => s.Name == name).Select(s => new { s.Id, s.Status }).FirstOrDefaultAsync(ct);
        if (stream is null || stream.Status == StreamStatuses.Deleting)
            throw KinesisException.ResourceNotFound($"Stream {name} under account {parts[4]} not found.");
        if (consumerAt < 0)
            return (stream.Id, null);
        var consumer = await db.StreamConsumers.AsNoTracking().Where(c => c.StreamId == stream.Id && c.Arn == arn).Select(c => (long?)c.Id).FirstOrDefaultAsync(ct)
            ?? throw KinesisException.ResourceNotFound($"Consumer {arn} under account {Account} not found.");
        return (stream.Id, consumer);
    }

    private static void Validate(string arn, string document)
    {
        if (document.Length > ResourcePolicyLimits.MaxDocumentLength)
            throw KinesisException.InvalidArgument($"The policy is {document.Length} characters long; a resource policy may have at most {ResourcePolicyLimits.MaxDocumentLength}.");
        AccessPolicy policy;
        try
        {
            policy = AccessPolicy.ParseResourcePolicy(document);
        }
        catch (FormatException e)
        {
            throw KinesisException.InvalidArgument(e.Message);
        }
        if (!policy.OnlyAbout(arn))
            throw KinesisException.InvalidArgument($"Policy has invalid resource: every statement's Resource must cover {arn}.");
    }

    private async Task PutAsync(MetadataDbContext db, string arn, long streamId, long? consumerId, string document, CancellationToken ct)
    {
        var row = await db.ResourcePolicies.FirstOrDefaultAsync(p => p.ResourceArn == arn, ct);
        if (row is null)
            db.ResourcePolicies.Add(new ResourcePolicyEntity { ResourceArn = arn, StreamId = streamId, ConsumerId = consumerId, Document = document, UpdatedAt = time.GetUtcNow() });
        else
        {
            row.Document = document;
            row.UpdatedAt = time.GetUtcNow();
        }
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            // A put racing this one inserted the row first, or the stream was deleted meanwhile; nothing of this call was kept.
            throw KinesisException.ResourceInUse($"The resource {arn} was changed by another request at the same time under account {Account}; retry the request.");
        }
        policies.Invalidate();
    }

    private static string? Text(JsonElement q, string member) =>
        !q.TryGetProperty(member, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw KinesisException.Serialization($"Unexpected value for {member}: a string is expected.");
}
