using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Security;
using Runnel.Core.Storage;
using Runnel.Gateway;
using Runnel.Ingest.Auth;
using Runnel.Ingest.Protocol;
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
    KinesisStreams streams,
    IOptions<SecurityOptions> security,
    IEnumerable<IStreamKeyChanges> keyChanges,
    RouteCache routes,
    TimeProvider time) : IAwsOperations
{
    public const string Kms = "KMS";
    private const string DefaultAlias = "alias/aws/kinesis";
    private static readonly string[] EncryptionTypes = [Kms, "NONE"];
    private readonly MasterKeySealer _masterKey = new(security.Value.MasterKey);

    public string Service => "kinesis-encryption";

    public string TargetPrefix => AwsServices.KinesisPrefix;

    public bool Handles(string operation) => operation is "StartStreamEncryption" or "StopStreamEncryption";

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
        var v = new Violations();
        v.NotNull("encryptionType", encryptionType);
        v.Enum("encryptionType", encryptionType, EncryptionTypes);
        v.NotNull("keyId", keyId);
        v.Length("keyId", keyId, 1, 2048);
        var stream = KinesisStreams.NameOf(v, name, arn);
        v.ThrowIfAny();
        if (encryptionType != Kms)
            throw KinesisException.InvalidArgument($"Encryption type {encryptionType} is not valid for {request.Operation}; the only valid type is KMS.");
        if (start && !IsKnownKey(keyId!))
            throw new KinesisException("KMSNotFoundException", $"Key '{keyId}' does not exist");

        await using var db = await dbFactory.CreateDbContextAsync(request.Aborted);
        var entity = await streams.FindStreamAsync(db, stream!, request.Aborted, tracked: true);
        if (entity.Status != StreamStatuses.Active)
            throw streams.NotActive(entity);
        if (start)
        {
            var version = 1 + (await db.StreamDataKeys.Where(k => k.StreamId == entity.Id).MaxAsync(k => (int?)k.Version, request.Aborted) ?? 0);
            var key = RandomNumberGenerator.GetBytes(32);
            db.StreamDataKeys.Add(new StreamDataKeyEntity
            {
                StreamId = entity.Id,
                Version = version,
                KeyId = keyId!,
                WrappedKey = _masterKey.Seal(key, StreamDataKeyEntity.AssociatedData(entity.Id, version)),
                CreatedAt = time.GetUtcNow(),
            });
            CryptographicOperations.ZeroMemory(key);
            entity.EncryptionType = Kms;
            entity.KeyId = keyId;
        }
        else
        {
            entity.EncryptionType = "NONE";
            entity.KeyId = null;
        }
        entity.Version++;
        try
        {
            await db.SaveChangesAsync(request.Aborted);
        }
        catch (DbUpdateException)
        {
            // Another change of the stream (or of its keys) won the race; nothing of this call was kept.
            throw KinesisException.ResourceInUse($"The stream was changed by another request at the same time under account {streams.Account}; retry the request.");
        }
        foreach (var listener in keyChanges)
            listener.Changed(entity.Id);
        // PutRecord(s) answer the stream's EncryptionType from its routing table.
        routes.Invalidate(entity.Name);
        await AwsAnswers.WriteEmptyAsync(request);
    }

    private bool IsKnownKey(string keyId) =>
        keyId == DefaultAlias
        || keyId == $"arn:aws:kms:{streams.Region}:{streams.Account}:{DefaultAlias}"
        || security.Value.KmsKeyIds.Contains(keyId, StringComparer.Ordinal);

    private static string? Text(JsonElement q, string member) =>
        !q.TryGetProperty(member, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw KinesisException.Serialization($"Unexpected value for {member}: a string is expected.");
}
