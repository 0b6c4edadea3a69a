using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Runnel.Core.Errors;
using Runnel.Core.Streams;
using Runnel.Ingest.Protocol;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.Ingest.Operations;

/// <summary>
/// A stream's tags by stream (AddTagsToStream, RemoveTagsFromStream, ListTagsForStream) and by resource ARN
/// (TagResource, UntagResource, ListTagsForResource), admitted against the control-plane rates like the catalog's
/// operations. CreateStream's tags are checked by the same rules (<see cref="ValidateTags"/>).
/// </summary>
internal sealed class KinesisTagging(IDbContextFactory<MetadataDbContext> dbFactory, KinesisStreams streams, ControlPlaneAdmission admission)
    : IKinesisOperations
{
    /// <summary>AWS's limit of tags on one stream.</summary>
    private const int MaxTagsPerStream = 50;

    public bool Handles(string operation) => operation is "AddTagsToStream" or "RemoveTagsFromStream" or "ListTagsForStream"
        or "TagResource" or "UntagResource" or "ListTagsForResource";

    public async Task HandleAsync(string operation, ApiCall call)
    {
        await admission.AdmitAsync(operation, call.Aborted);
        await (operation switch
        {
            "AddTagsToStream" => AddTagsAsync(call, byResource: false),
            "TagResource" => AddTagsAsync(call, byResource: true),
            "RemoveTagsFromStream" => RemoveTagsAsync(call, byResource: false),
            "UntagResource" => RemoveTagsAsync(call, byResource: true),
            "ListTagsForStream" => ListTagsForStreamAsync(call),
            "ListTagsForResource" => ListTagsForResourceAsync(call),
            _ => throw KinesisOperations.Unknown(operation),
        });
    }

    private string Account => streams.Account;

    private static bool IsTagText(string value)
    {
        foreach (var rune in value.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            var ok = Rune.IsLetter(rune) || Rune.IsDigit(rune) || Rune.IsNumber(rune)
                || category is UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                || rune.Value is '_' or '.' or ':' or '/' or '=' or '+' or '-' or '%' or '@';
            if (!ok)
                return false;
        }
        return true;
    }

    internal static void ValidateTags(Violations v, Dictionary<string, string>? tags, string path, int minCount = 0)
    {
        if (tags is null)
            return;
        v.MapLength(path, tags, minCount, MaxTagsPerStream);
        if (tags.Keys.Any(k => k.Length is < 1 or > 128))
            v.Add(path, Violations.MapText(tags), "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]");
        if (tags.Values.Any(x => x.Length > 256))
            v.Add(path, Violations.MapText(tags), "Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]");
    }

    internal static void CheckTagCharacters(IEnumerable<string> texts)
    {
        if (texts.Any(t => !IsTagText(t)))
            throw KinesisException.InvalidArgument("Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.");
    }

    private static string ResourceStreamName(Violations v, string? resourceArn)
    {
        v.NotNull("resourceARN", resourceArn);
        v.Length("resourceARN", resourceArn, 1, 2048);
        v.ThrowIfAny();
        if (!Arns.TryParseStream(resourceArn, out var name) || !Violations.IsNameLike(name))
            throw KinesisException.InvalidArgument($"Invalid ResourceARN {resourceArn}: only stream ARNs carry tags.");
        return name;
    }

    private async Task AddTagsAsync(ApiCall call, bool byResource)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        var name = byResource ? ResourceStreamName(v, q.ResourceArn) : KinesisStreams.NameOf(v, q.StreamName, q.StreamArn)!;
        v.NotNull("tags", q.Tags);
        ValidateTags(v, q.Tags, "tags", minCount: 1);
        v.ThrowIfAny();
        CheckTagCharacters(q.Tags!.Keys.Concat(q.Tags.Values));
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name, ct);
        if (stream.Status is not (StreamStatuses.Active or StreamStatuses.Updating))
            throw streams.NotActive(stream);
        // Two calls adding one key at once both see it absent and both insert: the second insert breaks the key's
        // uniqueness. Adding a tag is an upsert, so the loser reads again and updates the row the winner made.
        for (var attempt = 1; ; attempt++)
        {
            var existing = await db.StreamTags.Where(t => t.StreamId == stream.Id).ToListAsync(ct);
            var added = q.Tags.Keys.Count(k => existing.All(t => t.Key != k));
            if (existing.Count + added > MaxTagsPerStream)
                throw KinesisException.InvalidArgument(
                    $"Failed to add tags to stream {name} under account {Account} because a given stream cannot have more than {MaxTagsPerStream} tags associated with it.");
            foreach (var (key, value) in q.Tags)
            {
                var tag = existing.FirstOrDefault(t => t.Key == key);
                if (tag is null)
                    db.StreamTags.Add(new StreamTagEntity { StreamId = stream.Id, Key = key, Value = value });
                else
                    tag.Value = value;
            }
            try
            {
                await db.SaveChangesAsync(ct);
                break;
            }
            catch (DbUpdateException) when (attempt < 5)
            {
                db.ChangeTracker.Clear();
            }
        }
        await call.RespondEmptyAsync();
    }

    private async Task RemoveTagsAsync(ApiCall call, bool byResource)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        var name = byResource ? ResourceStreamName(v, q.ResourceArn) : KinesisStreams.NameOf(v, q.StreamName, q.StreamArn)!;
        v.NotNull("tagKeys", q.TagKeys);
        v.ListLength("tagKeys", q.TagKeys, 1, MaxTagsPerStream);
        if (q.TagKeys?.Any(k => k.Length is < 1 or > 128) == true)
            v.Add("tagKeys", Violations.ListText(q.TagKeys), "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]");
        v.ThrowIfAny();
        CheckTagCharacters(q.TagKeys!);
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name, ct);
        if (stream.Status is not (StreamStatuses.Active or StreamStatuses.Updating))
            throw streams.NotActive(stream);
        var keys = q.TagKeys!;
        var doomed = await db.StreamTags.Where(t => t.StreamId == stream.Id && keys.Contains(t.Key)).ToListAsync(ct);
        db.StreamTags.RemoveRange(doomed);
        await db.SaveChangesAsync(ct);
        await call.RespondEmptyAsync();
    }

    private async Task ListTagsForStreamAsync(ApiCall call)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        var name = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn)!;
        v.Length("exclusiveStartTagKey", q.ExclusiveStartTagKey, 1, 128);
        v.Range("limit", q.Limit, 1, 50);
        v.ThrowIfAny();
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name, ct);
        var tags = await db.StreamTags.AsNoTracking().Where(t => t.StreamId == stream.Id).ToListAsync(ct);
        tags.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        var start = q.ExclusiveStartTagKey;
        var page = tags.Where(t => start is null || string.CompareOrdinal(t.Key, start) > 0).ToList();
        var limit = (int)(q.Limit ?? 50);
        var more = page.Count > limit;
        using var w = call.Writer();
        w.StartObject();
        w.TagList("Tags", page.Take(limit).Select(t => KeyValuePair.Create(t.Key, (string?)t.Value)));
        w.Boolean("HasMoreTags", more);
        w.EndObject();
        await call.RespondAsync(w);
    }

    private async Task ListTagsForResourceAsync(ApiCall call)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        var name = ResourceStreamName(v, q.ResourceArn);
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name, ct);
        var tags = await db.StreamTags.AsNoTracking().Where(t => t.StreamId == stream.Id).ToListAsync(ct);
        tags.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        using var w = call.Writer();
        w.StartObject();
        w.TagList("Tags", tags.Select(t => KeyValuePair.Create(t.Key, (string?)t.Value)));
        w.EndObject();
        await call.RespondAsync(w);
    }
}
