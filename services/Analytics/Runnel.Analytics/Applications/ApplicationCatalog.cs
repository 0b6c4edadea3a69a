using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Analytics.Runner;
using Runnel.Analytics.Sql;
using Runnel.Core.Errors;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.Analytics.Applications;

/// <summary>
/// The control plane of SQL applications over the metadata store. Every request is checked whole (configuration,
/// referenced streams, the code against the inputs' schemas) before anything is written, so a refused request leaves
/// nothing behind; every change is one conditional write on the application's version.
/// </summary>
public sealed partial class ApplicationCatalog(IDbContextFactory<MetadataDbContext> dbFactory, IOptions<AnalyticsOptions> options, LambdaOutputs lambdas, TimeProvider time)
{
    public const string CodeValidation = "CodeValidationException";
    public const string ConcurrentModification = "ConcurrentModificationException";
    public const string InvalidConfiguration = "InvalidApplicationConfigurationException";
    public const string UnsupportedOperation = "UnsupportedOperationException";

    [GeneratedRegex("^[a-zA-Z0-9_.-]{1,128}$")]
    private static partial Regex NamePattern();

    public string ArnOf(string name) => $"arn:aws:kinesisanalytics:{options.Value.Region}:{options.Value.AccountId}:application/{name}";

    public async Task<AnalyticsApplicationEntity> CreateAsync(JsonNode q, CancellationToken ct)
    {
        var name = RequireName(q);
        var inputs = new JsonArray();
        foreach (var (input, i) in (q["Inputs"]?.AsArray() ?? []).Select((x, i) => (x!.DeepClone(), i)))
        {
            input["InputId"] = $"{i + 1}.1";
            inputs.Add(input);
        }
        var outputs = new JsonArray();
        foreach (var (output, i) in (q["Outputs"]?.AsArray() ?? []).Select((x, i) => (x!.DeepClone(), i)))
        {
            output["OutputId"] = $"{i + 1}.1";
            outputs.Add(output);
        }
        var code = ApplicationModel.Str(q, "ApplicationCode");
        var description = ApplicationModel.Str(q, "ApplicationDescription");
        if (description is { Length: > 1024 })
            throw ApplicationModel.Invalid("ApplicationDescription is longer than 1024 characters.");
        var tags = ReadTags(q["Tags"]);
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await ValidateAsync(db, inputs, outputs, code, ct).ConfigureAwait(false);
        if (await db.AnalyticsApplications.AnyAsync(a => a.Name == name, ct).ConfigureAwait(false))
            throw KinesisException.ResourceInUse($"Application {name} already exists.");
        if (await db.AnalyticsApplications.CountAsync(ct).ConfigureAwait(false) >= options.Value.MaxApplications)
            throw KinesisException.LimitExceeded($"This deployment allows {options.Value.MaxApplications} applications.");
        var now = time.GetUtcNow();
        var entity = new AnalyticsApplicationEntity
        {
            Name = name,
            Arn = ArnOf(name),
            Description = description,
            Code = code,
            Status = AnalyticsApplicationStatuses.Ready,
            InputsJson = inputs.ToJsonString(),
            OutputsJson = outputs.ToJsonString(),
            TagsJson = tags.ToJsonString(),
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.AnalyticsApplications.Add(entity);
        try
        {
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            throw KinesisException.ResourceInUse($"Application {name} already exists.");
        }
        return entity;
    }

    public async Task<AnalyticsApplicationEntity> DescribeAsync(string name, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await FindAsync(db, name, ct).ConfigureAwait(false);
    }

    public async Task<(List<AnalyticsApplicationEntity> Page, bool More)> ListAsync(int limit, string? exclusiveStart, CancellationToken ct)
    {
        if (limit is < 1 or > 50)
            throw ApplicationModel.Invalid("Limit must be between 1 and 50.");
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var query = db.AnalyticsApplications.AsNoTracking();
        if (exclusiveStart is not null)
            query = query.Where(a => string.Compare(a.Name, exclusiveStart) > 0);
        var rows = await query.OrderBy(a => a.Name).Take(limit + 1).ToListAsync(ct).ConfigureAwait(false);
        return (rows.Take(limit).ToList(), rows.Count > limit);
    }

    /// <summary>READY to STARTING; the runner that takes the application makes it RUNNING.</summary>
    public async Task StartAsync(string name, JsonNode? inputConfigurations, CancellationToken ct)
    {
        await ChangeAsync(name, null, a =>
        {
            if (a.Status != AnalyticsApplicationStatuses.Ready)
                throw KinesisException.ResourceInUse($"Application {name} is {a.Status}; only a READY application can be started.");
            var inputs = JsonNode.Parse(a.InputsJson)!.AsArray();
            if (inputs.Count == 0)
                throw new KinesisException(InvalidConfiguration, $"Application {name} has no input.");
            if (string.IsNullOrWhiteSpace(a.Code))
                throw new KinesisException(InvalidConfiguration, $"Application {name} has no code.");
            var program = Compile(a.Code, inputs, JsonNode.Parse(a.ReferenceDataSourcesJson)!.AsArray());
            foreach (var o in JsonNode.Parse(a.OutputsJson)!.AsArray())
            {
                var output = ApplicationModel.ReadOutput(o!);
                if (!program.Streams.ContainsKey(output.Name))
                    throw new KinesisException(InvalidConfiguration, $"Output {output.Id} names in-application stream {output.Name}, which the code does not create.");
            }
            var position = "NOW";
            foreach (var c in inputConfigurations?.AsArray() ?? [])
            {
                var id = ApplicationModel.Str(c, "Id");
                if (id is null || !inputs.Any(i => ApplicationModel.Str(i, "InputId") == id))
                    throw ApplicationModel.Invalid($"Input {id} does not exist.");
                position = ApplicationModel.Str(c!["InputStartingPositionConfiguration"], "InputStartingPosition") ?? position;
            }
            if (position is not ("NOW" or "TRIM_HORIZON" or "LAST_STOPPED_POINT"))
                throw ApplicationModel.Invalid($"InputStartingPosition {position} is not NOW, TRIM_HORIZON or LAST_STOPPED_POINT.");
            a.StartingPosition = position;
            a.RunId++;
            a.Status = AnalyticsApplicationStatuses.Starting;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>RUNNING or STARTING to STOPPING; the runner checkpoints, stops and makes it READY.</summary>
    public async Task StopAsync(string name, CancellationToken ct)
    {
        await ChangeAsync(name, null, a =>
        {
            if (a.Status is AnalyticsApplicationStatuses.Ready or AnalyticsApplicationStatuses.Stopping)
                return;
            if (a.Status is not (AnalyticsApplicationStatuses.Running or AnalyticsApplicationStatuses.Starting))
                throw KinesisException.ResourceInUse($"Application {name} is {a.Status}.");
            a.Status = AnalyticsApplicationStatuses.Stopping;
        }, ct, bumpVersion: false).ConfigureAwait(false);
    }

    public async Task UpdateAsync(string name, long currentVersion, JsonNode update, CancellationToken ct)
    {
        await ChangeAsync(name, currentVersion, a =>
        {
            if (a.Status is not (AnalyticsApplicationStatuses.Ready or AnalyticsApplicationStatuses.Running))
                throw KinesisException.ResourceInUse($"Application {name} is {a.Status}.");
            var inputs = JsonNode.Parse(a.InputsJson)!.AsArray();
            var outputs = JsonNode.Parse(a.OutputsJson)!.AsArray();
            var code = a.Code;
            if (update["ApplicationCodeUpdate"] is JsonValue codeUpdate)
                code = codeUpdate.GetValue<string>();
            foreach (var u in update["InputUpdates"]?.AsArray() ?? [])
            {
                var input = FindById(inputs, "InputId", ApplicationModel.Str(u, "InputId"), "Input");
                if (ApplicationModel.Str(u, "NamePrefixUpdate") is { } prefix)
                    input["NamePrefix"] = prefix;
                if (u!["KinesisStreamsInputUpdate"]?["ResourceARNUpdate"] is JsonValue arn)
                    input["KinesisStreamsInput"] = new JsonObject { ["ResourceARN"] = arn.GetValue<string>() };
                if (u["InputSchemaUpdate"] is JsonObject schema)
                {
                    var target = input["InputSchema"]!.AsObject();
                    if (schema["RecordFormatUpdate"] is { } f)
                        target["RecordFormat"] = f.DeepClone();
                    if (schema["RecordColumnUpdates"] is { } cols)
                        target["RecordColumns"] = cols.DeepClone();
                }
                if (u["InputParallelismUpdate"]?["CountUpdate"] is JsonValue count)
                    input["InputParallelism"] = new JsonObject { ["Count"] = count.GetValue<int>() };
            }
            foreach (var u in update["OutputUpdates"]?.AsArray() ?? [])
            {
                var output = FindById(outputs, "OutputId", ApplicationModel.Str(u, "OutputId"), "Output");
                if (ApplicationModel.Str(u, "NameUpdate") is { } n)
                    output["Name"] = n;
                if (u!["KinesisStreamsOutputUpdate"]?["ResourceARNUpdate"] is JsonValue arn)
                    output["KinesisStreamsOutput"] = new JsonObject { ["ResourceARN"] = arn.GetValue<string>() };
                if (u["DestinationSchemaUpdate"] is { } d)
                    output["DestinationSchema"] = d.DeepClone();
            }
            var references = JsonNode.Parse(a.ReferenceDataSourcesJson)!.AsArray();
            foreach (var u in update["ReferenceDataSourceUpdates"]?.AsArray() ?? [])
            {
                var reference = FindById(references, "ReferenceId", ApplicationModel.Str(u, "ReferenceId"), "Reference data source");
                if (ApplicationModel.Str(u, "TableNameUpdate") is { } table)
                    reference["TableName"] = table;
                if (u!["S3ReferenceDataSourceUpdate"] is JsonObject s3)
                {
                    var target = reference["S3ReferenceDataSource"]!.AsObject();
                    if (ApplicationModel.Str(s3, "BucketARNUpdate") is { } bucket)
                        target["BucketARN"] = bucket;
                    if (ApplicationModel.Str(s3, "FileKeyUpdate") is { } key)
                        target["FileKey"] = key;
                }
                if (u["ReferenceSchemaUpdate"] is { } schema)
                    reference["ReferenceSchema"] = schema.DeepClone();
            }
            Validate(inputs, outputs, code, references);
            a.InputsJson = inputs.ToJsonString();
            a.OutputsJson = outputs.ToJsonString();
            // The runner restarts on the new version and loads every reference object again: an update refreshes them.
            a.ReferenceDataSourcesJson = references.ToJsonString();
            // A running application picks the new version up from its last checkpoint (the runner restarts it).
            a.Code = code;
        }, ct, checkStreams: true).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string name, DateTimeOffset createTimestamp, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var a = await FindAsync(db, name, ct).ConfigureAwait(false);
        // Clients send the timestamp DescribeApplication returned; the AWS CLI drops its fraction, so seconds must match.
        if (a.CreatedAt.ToUnixTimeSeconds() != createTimestamp.ToUnixTimeSeconds())
            throw ApplicationModel.Invalid($"CreateTimestamp does not match the creation time of application {name}.");
        var rows = await db.AnalyticsApplications.Where(x => x.Name == name && x.VersionId == a.VersionId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        if (rows == 0)
            throw new KinesisException(ConcurrentModification, $"Application {name} changed while it was being deleted.");
        await db.AnalyticsCheckpoints.Where(c => c.ApplicationName == name).ExecuteDeleteAsync(ct).ConfigureAwait(false);
    }

    public Task AddInputAsync(string name, long currentVersion, JsonNode input, CancellationToken ct) =>
        ChangeAsync(name, currentVersion, a =>
        {
            var inputs = JsonNode.Parse(a.InputsJson)!.AsArray();
            if (inputs.Count > 0)
                throw new KinesisException(ErrorTypes.LimitExceeded, $"Application {name} already has an input; one is supported.");
            var added = input.DeepClone();
            added["InputId"] = "1.1";
            inputs.Add(added);
            var outputs = JsonNode.Parse(a.OutputsJson)!.AsArray();
            Validate(inputs, outputs, a.Code, JsonNode.Parse(a.ReferenceDataSourcesJson)!.AsArray());
            a.InputsJson = inputs.ToJsonString();
        }, ct, checkStreams: true);

    public Task AddOutputAsync(string name, long currentVersion, JsonNode output, CancellationToken ct) =>
        ChangeAsync(name, currentVersion, a =>
        {
            var outputs = JsonNode.Parse(a.OutputsJson)!.AsArray();
            if (outputs.Count >= 3)
                throw new KinesisException(ErrorTypes.LimitExceeded, $"Application {name} already has 3 outputs.");
            var added = output.DeepClone();
            var next = outputs.Select(o => int.Parse(ApplicationModel.Str(o, "OutputId")!.Split('.')[0], System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max() + 1;
            added["OutputId"] = $"{next}.1";
            outputs.Add(added);
            Validate(JsonNode.Parse(a.InputsJson)!.AsArray(), outputs, a.Code, JsonNode.Parse(a.ReferenceDataSourcesJson)!.AsArray());
            a.OutputsJson = outputs.ToJsonString();
        }, ct, checkStreams: true);

    public Task AddReferenceDataSourceAsync(string name, long currentVersion, JsonNode source, CancellationToken ct) =>
        ChangeAsync(name, currentVersion, a =>
        {
            var references = JsonNode.Parse(a.ReferenceDataSourcesJson)!.AsArray();
            if (references.Count >= 1)
                throw new KinesisException(ErrorTypes.LimitExceeded, $"Application {name} already has a reference data source; one is supported, as in Kinesis Analytics.");
            var added = source.DeepClone();
            added["ReferenceId"] = "1.1";
            references.Add(added);
            Validate(JsonNode.Parse(a.InputsJson)!.AsArray(), JsonNode.Parse(a.OutputsJson)!.AsArray(), a.Code, references);
            a.ReferenceDataSourcesJson = references.ToJsonString();
        }, ct);

    public Task DeleteReferenceDataSourceAsync(string name, long currentVersion, string? referenceId, CancellationToken ct) =>
        ChangeAsync(name, currentVersion, a =>
        {
            var references = JsonNode.Parse(a.ReferenceDataSourcesJson)!.AsArray();
            references.Remove(FindById(references, "ReferenceId", referenceId, "Reference data source"));
            // Code that still joins the table would no longer run.
            Validate(JsonNode.Parse(a.InputsJson)!.AsArray(), JsonNode.Parse(a.OutputsJson)!.AsArray(), a.Code, references);
            a.ReferenceDataSourcesJson = references.ToJsonString();
        }, ct);

    public Task DeleteOutputAsync(string name, long currentVersion, string? outputId, CancellationToken ct) =>
        ChangeAsync(name, currentVersion, a =>
        {
            var outputs = JsonNode.Parse(a.OutputsJson)!.AsArray();
            var output = FindById(outputs, "OutputId", outputId, "Output");
            outputs.Remove(output);
            a.OutputsJson = outputs.ToJsonString();
        }, ct);

    public async Task<JsonObject> TagsAsync(string arn, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var a = await db.AnalyticsApplications.AsNoTracking().FirstOrDefaultAsync(x => x.Arn == arn, ct).ConfigureAwait(false)
            ?? throw KinesisException.ResourceNotFound($"Application {arn} not found.");
        return JsonNode.Parse(a.TagsJson)!.AsObject();
    }

    public async Task TagAsync(string arn, JsonNode? tags, IReadOnlyList<string>? untag, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var name = await db.AnalyticsApplications.AsNoTracking().Where(x => x.Arn == arn).Select(x => x.Name).FirstOrDefaultAsync(ct).ConfigureAwait(false)
            ?? throw KinesisException.ResourceNotFound($"Application {arn} not found.");
        var add = tags is null ? null : ReadTags(tags);
        await ChangeAsync(name, null, a =>
        {
            var current = JsonNode.Parse(a.TagsJson)!.AsObject();
            foreach (var (k, v) in add ?? [])
                current[k] = v!.DeepClone();
            foreach (var k in untag ?? [])
                current.Remove(k);
            if (current.Count > 50)
                throw new KinesisException("TooManyTagsException", "An application can have at most 50 tags.");
            a.TagsJson = current.ToJsonString();
        }, ct, bumpVersion: false).ConfigureAwait(false);
    }

    private static JsonObject ReadTags(JsonNode? tags)
    {
        var result = new JsonObject();
        foreach (var t in tags?.AsArray() ?? [])
        {
            var key = ApplicationModel.Str(t, "Key");
            if (key is not { Length: >= 1 and <= 128 })
                throw ApplicationModel.Invalid("A tag Key must be 1 to 128 characters long.");
            result[key] = ApplicationModel.Str(t, "Value") ?? "";
        }
        return result;
    }

    private static JsonNode FindById(JsonArray items, string member, string? id, string what) =>
        items.FirstOrDefault(i => ApplicationModel.Str(i, member) == id)
        ?? throw KinesisException.ResourceNotFound($"{what} {id} not found.");

    /// <summary>
    /// Applies <paramref name="change"/> to the application and writes it only if nobody changed it since it was read
    /// (and, when given, only if its version is <paramref name="expectedVersion"/>).
    /// </summary>
    private async Task ChangeAsync(string name, long? expectedVersion, Action<AnalyticsApplicationEntity> change, CancellationToken ct, bool bumpVersion = true, bool checkStreams = false)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var a = await FindAsync(db, name, ct, tracked: true).ConfigureAwait(false);
        if (expectedVersion is { } v && v != a.VersionId)
            throw new KinesisException(ConcurrentModification, $"Application {name} is at version {a.VersionId}, not {v}.");
        change(a);
        if (checkStreams)
            await CheckResourcesAsync(db, JsonNode.Parse(a.InputsJson)!.AsArray(), JsonNode.Parse(a.OutputsJson)!.AsArray(), ct).ConfigureAwait(false);
        if (bumpVersion)
            a.VersionId++;
        a.UpdatedAt = time.GetUtcNow();
        try
        {
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
        }
        catch (DbUpdateConcurrencyException)
        {
            throw new KinesisException(ConcurrentModification, $"Application {name} was changed concurrently; describe it and retry.");
        }
    }

    private static async Task<AnalyticsApplicationEntity> FindAsync(MetadataDbContext db, string name, CancellationToken ct, bool tracked = false)
    {
        var query = tracked ? db.AnalyticsApplications : db.AnalyticsApplications.AsNoTracking();
        return await query.FirstOrDefaultAsync(a => a.Name == name, ct).ConfigureAwait(false)
            ?? throw KinesisException.ResourceNotFound($"Application {name} not found.");
    }

    private static string RequireName(JsonNode q)
    {
        var name = ApplicationModel.Str(q, "ApplicationName");
        if (name is null || !NamePattern().IsMatch(name))
            throw ApplicationModel.Invalid("ApplicationName must be 1 to 128 characters of letters, digits, '_', '.' and '-'.");
        return name;
    }

    private async Task ValidateAsync(MetadataDbContext db, JsonArray inputs, JsonArray outputs, string? code, CancellationToken ct)
    {
        Validate(inputs, outputs, code);
        await CheckResourcesAsync(db, inputs, outputs, ct).ConfigureAwait(false);
    }

    /// <summary>Configuration and code; the code binds against the inputs' in-application streams.</summary>
    private static void Validate(JsonArray inputs, JsonArray outputs, string? code, JsonArray? references = null)
    {
        var tables = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in references ?? [])
        {
            var reference = ApplicationModel.ReadReference(r!);
            if (!tables.Add(reference.TableName))
                throw ApplicationModel.Invalid($"Reference table {reference.TableName} is defined twice.");
        }
        if (inputs.Count > 1)
            throw ApplicationModel.Invalid("An application has at most one input.");
        if (outputs.Count > 3)
            throw ApplicationModel.Invalid("An application has at most three outputs.");
        foreach (var i in inputs)
            ApplicationModel.ReadInput(i!);
        foreach (var o in outputs)
            ApplicationModel.ReadOutput(o!);
        if (!string.IsNullOrWhiteSpace(code))
            Compile(code, inputs, references);
    }

    /// <summary>Compiles the code; a problem answers CodeValidationException with its line and column.</summary>
    public static SqlProgram Compile(string code, JsonArray inputs, JsonArray? references)
    {
        try
        {
            return SqlProgram.Compile(code, inputs.SelectMany(i => ApplicationModel.ReadInput(i!).SourceSchemas),
                (references ?? []).Select(r => ApplicationModel.ReadReference(r!).TableSchema));
        }
        catch (SqlException e)
        {
            throw new KinesisException(CodeValidation, e.Message);
        }
    }

    /// <summary>
    /// Inputs must name a stream or delivery stream that exists; a delivery stream output must exist and take records
    /// (Direct PUT); a Lambda output's host must pass <c>Analytics:AllowedHosts</c>.
    /// </summary>
    private async Task CheckResourcesAsync(MetadataDbContext db, JsonArray inputs, JsonArray outputs, CancellationToken ct)
    {
        try
        {
            foreach (var i in inputs)
                await RecordStreams.ResolveAsync(db, ApplicationModel.ReadInput(i!).ResourceArn, forWrite: false, ct).ConfigureAwait(false);
            foreach (var output in outputs.Select(o => ApplicationModel.ReadOutput(o!)))
            {
                if (output.FirehoseArn is { } firehose)
                    await RecordStreams.ResolveAsync(db, firehose, forWrite: true, ct).ConfigureAwait(false);
                if (output.LambdaArn is { } lambda && await lambdas.Policy.RefusalAsync(new Uri(lambda), ct).ConfigureAwait(false) is { } refusal)
                    throw ApplicationModel.Invalid($"LambdaOutput {lambda} may not be called: {refusal}.");
            }
        }
        catch (RecordStreamException e)
        {
            throw ApplicationModel.Invalid(e.Message);
        }
    }
}
