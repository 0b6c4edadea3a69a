using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Security;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Gateway;
using Runnel.Ingest.Auth;
using Runnel.Ingest.Options;
using Runnel.Ingest.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.Ingest.Operations;

/// <summary>
/// StartStreamEncryption and StopStreamEncryption. Starting creates a new version of the stream's data key (256 random
/// bits, stored only wrapped by the master key) and marks the stream KMS with the client's KeyId; the shard store seals
/// every record appended from then on with the newest version. Stopping marks it NONE; the key versions stay, so
/// records sealed earlier remain readable.
/// </summary>
internal sealed class StreamEncryptionOperations(
    IDbContextFactory<MetadataDbContext> dbFactory,
    IOptions<RunnelOptions> runnel,
    IOptions<SecurityOptions> security,
    IEnumerable<IStreamKeyChanges> keyChanges,
    RouteCache routes,
    TimeProvider time) : IAwsOperations
{
    public const string Kms = "KMS";
    private const string DefaultAlias = "alias/aws/kinesis";
    private readonly MasterKeySealer _masterKey = new(security.Value.MasterKey);

    public string Service => "kinesis-encryption";

    public string TargetPrefix => AwsServices.KinesisPrefix;

    public bool Handles(string operation) => operation is "StartStreamEncryption" or "StopStreamEncryption";

    private string Account => runnel.Value.AccountId;

    public async Task HandleAsync(AwsRequest request)
    {
        var start = request.Operation == "StartStreamEncryption";
        string? name, arn, encryptionType, keyId;
        using (var doc = request.ReadDocument())
        {
            var q = doc.RootElement;
            if (q.ValueKind != JsonValueKind.Object)
                throw KinesisException.Serialization("Start of structure or map expected.");
            name = Text(q, "StreamName");
            arn = Text(q, "StreamARN");
            encryptionType = Text(q, "EncryptionType");
            keyId = Text(q, "KeyId");
        }
        var violations = new List<string>();
        if (encryptionType is null)
            violations.Add("Value null at 'encryptionType' failed to satisfy constraint: Member must not be null");
        else if (encryptionType is not (Kms or "NONE"))
            violations.Add($"Value '{encryptionType}' at 'encryptionType' failed to satisfy constraint: Member must satisfy enum value set: [KMS, NONE]");
        if (keyId is null)
            violations.Add("Value null at 'keyId' failed to satisfy constraint: Member must not be null");
        else if (keyId.Length is < 1 or > 2048)
            violations.Add($"Value '{keyId}' at 'keyId' failed to satisfy constraint: Member must have length between 1 and 2048 inclusive");
        if (name is not null && (name.Length is < 1 or > 128))
            violations.Add($"Value '{name}' at 'streamName' failed to satisfy constraint: Member must have length between 1 and 128 inclusive");
        if (violations.Count > 0)
            throw KinesisException.Validation(violations);
        if (arn is not null)
        {
            if (!Arns.TryParseStream(arn, out var fromArn))
                throw KinesisException.InvalidArgument($"StreamARN {arn} is not a valid stream ARN.");
            if (name is not null && name != fromArn)
                throw KinesisException.InvalidArgument("StreamName and StreamARN name different streams.");
            name = fromArn;
        }
        if (name is null)
            throw KinesisException.InvalidArgument("Either StreamName or StreamARN must be provided.");
        if (encryptionType != Kms)
            throw KinesisException.InvalidArgument($"Encryption type {encryptionType} is not valid for {request.Operation}; the only valid type is KMS.");
        if (start && !IsKnownKey(keyId!))
            throw new KinesisException("KMSNotFoundException", $"Key '{keyId}' does not exist");

        await using var db = await dbFactory.CreateDbContextAsync(request.Aborted);
        var stream = await db.Streams.FirstOrDefaultAsync(s => s.Name == name, request.Aborted)
            ?? throw KinesisException.ResourceNotFound($"Stream {name} under account {Account} not found.");
        if (stream.Status != StreamStatuses.Active)
            throw KinesisException.ResourceInUse($"Stream {stream.Name} under account {Account} not ACTIVE, instead in state {stream.Status}");
        if (start)
        {
            var version = 1 + (await db.StreamDataKeys.Where(k => k.StreamId == stream.Id).MaxAsync(k => (int?)k.Version, request.Aborted) ?? 0);
            var key = RandomNumberGenerator.GetBytes(32);
            db.StreamDataKeys.Add(new StreamDataKeyEntity
            {
                StreamId = stream.Id,
                Version = version,
                KeyId = keyId!,
                WrappedKey = _masterKey.Seal(key, StreamDataKeyEntity.AssociatedData(stream.Id, version)),
                CreatedAt = time.GetUtcNow(),
            });
            CryptographicOperations.ZeroMemory(key);
            stream.EncryptionType = Kms;
            stream.KeyId = keyId;
        }
        else
        {
            stream.EncryptionType = "NONE";
            stream.KeyId = null;
        }
        stream.Version++;
        try
        {
            await db.SaveChangesAsync(request.Aborted);
        }
        catch (DbUpdateException)
        {
            // Another change of the stream (or of its keys) won the race; nothing of this call was kept.
            throw KinesisException.ResourceInUse($"The stream was changed by another request at the same time under account {Account}; retry the request.");
        }
        foreach (var listener in keyChanges)
            listener.Changed(stream.Id);
        // PutRecord(s) answer the stream's EncryptionType from its routing table.
        routes.Invalidate(stream.Name);
        await AwsAnswers.WriteEmptyAsync(request);
    }

    private bool IsKnownKey(string keyId) =>
        keyId == DefaultAlias
        || keyId == $"arn:aws:kms:{runnel.Value.Region}:{Account}:{DefaultAlias}"
        || security.Value.KmsKeyIds.Contains(keyId, StringComparer.Ordinal);

    private static string? Text(JsonElement q, string member) =>
        !q.TryGetProperty(member, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw KinesisException.Serialization($"Unexpected value for {member}: a string is expected.");
}
