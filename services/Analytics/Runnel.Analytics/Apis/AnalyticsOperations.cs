using System.Text.Json;
using System.Text.Json.Nodes;
using Runnel.Analytics.Applications;
using Runnel.Core.Errors;
using Runnel.Core.Wire;
using Runnel.Gateway;
using Runnel.Metadata.Entities;

namespace Runnel.Analytics.Apis;

/// <summary>
/// The Kinesis Analytics (SQL applications) API, <c>X-Amz-Target: KinesisAnalytics_20150814.*</c>, JSON 1.1. Each
/// operation reads its request, calls <see cref="ApplicationCatalog"/> and returns the members of its answer (null
/// for an empty answer). Errors are <see cref="KinesisException"/>s with the service's type names.
/// </summary>
public sealed class AnalyticsOperations(ApplicationCatalog catalog, SchemaDiscovery discovery) : IAwsOperations
{
    public string Service => AwsServices.Analytics.Name;

    public string TargetPrefix => AwsServices.Analytics.TargetPrefix;

    private static readonly HashSet<string> Operations =
    [
        "CreateApplication", "DescribeApplication", "ListApplications", "StartApplication", "StopApplication",
        "UpdateApplication", "DeleteApplication", "AddApplicationInput", "AddApplicationOutput", "DeleteApplicationOutput",
        "AddApplicationReferenceDataSource", "DeleteApplicationReferenceDataSource",
        "TagResource", "UntagResource", "ListTagsForResource", "DiscoverInputSchema",
    ];

    public bool Handles(string operation) => Operations.Contains(operation);

    public async Task HandleAsync(AwsRequest request)
    {
        using var doc = request.ReadDocument();
        var members = await ExecuteAsync(request.Operation, doc.RootElement, request.Aborted).ConfigureAwait(false);
        if (members is null)
            await AwsAnswers.WriteEmptyAsync(request).ConfigureAwait(false);
        else
            await AwsAnswers.WriteAsync(request, members).ConfigureAwait(false);
    }

    public async Task<Action<WireWriter>?> ExecuteAsync(string operation, JsonElement request, CancellationToken ct)
    {
        if (request.ValueKind != JsonValueKind.Object)
            throw KinesisException.Serialization("Start of structure or map expected.");
        var q = JsonObject.Create(request)!;
        switch (operation)
        {
            case "CreateApplication":
            {
                var a = await catalog.CreateAsync(q, ct).ConfigureAwait(false);
                return w =>
                {
                    w.StartObject("ApplicationSummary");
                    WriteSummary(w, a);
                    w.EndObject();
                };
            }
            case "DescribeApplication":
            {
                var a = await catalog.DescribeAsync(Name(q), ct).ConfigureAwait(false);
                return w => WriteDetail(w, a);
            }
            case "ListApplications":
            {
                var limit = q["Limit"] is JsonValue l ? l.GetValue<int>() : 50;
                var (page, more) = await catalog.ListAsync(limit, ApplicationModel.Str(q, "ExclusiveStartApplicationName"), ct).ConfigureAwait(false);
                return w =>
                {
                    w.StartArray("ApplicationSummaries");
                    foreach (var a in page)
                    {
                        w.StartObject();
                        WriteSummary(w, a);
                        w.EndObject();
                    }
                    w.EndArray();
                    w.Boolean("HasMoreApplications", more);
                };
            }
            case "DiscoverInputSchema":
            {
                var d = await discovery.DiscoverAsync(q, ct).ConfigureAwait(false);
                return w => WriteDiscovered(w, d);
            }
            case "StartApplication":
                await catalog.StartAsync(Name(q), q["InputConfigurations"], ct).ConfigureAwait(false);
                return null;
            case "StopApplication":
                await catalog.StopAsync(Name(q), ct).ConfigureAwait(false);
                return null;
            case "UpdateApplication":
                await catalog.UpdateAsync(Name(q), Version(q), q["ApplicationUpdate"] ?? throw ApplicationModel.Invalid("ApplicationUpdate is required."), ct).ConfigureAwait(false);
                return null;
            case "DeleteApplication":
            {
                var created = q["CreateTimestamp"] is JsonValue t && t.TryGetValue<double>(out var seconds)
                    ? DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(seconds * 1000))
                    : throw ApplicationModel.Invalid("CreateTimestamp is required.");
                await catalog.DeleteAsync(Name(q), created, ct).ConfigureAwait(false);
                return null;
            }
            case "AddApplicationInput":
                await catalog.AddInputAsync(Name(q), Version(q), q["Input"] ?? throw ApplicationModel.Invalid("Input is required."), ct).ConfigureAwait(false);
                return null;
            case "AddApplicationOutput":
                await catalog.AddOutputAsync(Name(q), Version(q), q["Output"] ?? throw ApplicationModel.Invalid("Output is required."), ct).ConfigureAwait(false);
                return null;
            case "DeleteApplicationOutput":
                await catalog.DeleteOutputAsync(Name(q), Version(q), ApplicationModel.Str(q, "OutputId"), ct).ConfigureAwait(false);
                return null;
            case "AddApplicationReferenceDataSource":
                await catalog.AddReferenceDataSourceAsync(Name(q), Version(q),
                    q["ReferenceDataSource"] ?? throw ApplicationModel.Invalid("ReferenceDataSource is required."), ct).ConfigureAwait(false);
                return null;
            case "DeleteApplicationReferenceDataSource":
                await catalog.DeleteReferenceDataSourceAsync(Name(q), Version(q), ApplicationModel.Str(q, "ReferenceId"), ct).ConfigureAwait(false);
                return null;
            case "TagResource":
                await catalog.TagAsync(Arn(q), q["Tags"] ?? throw ApplicationModel.Invalid("Tags is required."), null, ct).ConfigureAwait(false);
                return null;
            case "UntagResource":
            {
                var keys = (q["TagKeys"]?.AsArray() ?? throw ApplicationModel.Invalid("TagKeys is required.")).Select(k => k!.GetValue<string>()).ToList();
                await catalog.TagAsync(Arn(q), null, keys, ct).ConfigureAwait(false);
                return null;
            }
            case "ListTagsForResource":
            {
                var tags = await catalog.TagsAsync(Arn(q), ct).ConfigureAwait(false);
                return w => w.TagList("Tags", tags.Select(t => KeyValuePair.Create(t.Key, t.Value?.GetValue<string>())));
            }
            default:
                throw new KinesisException(ErrorTypes.UnknownOperation, $"Operation {operation} is not supported.");
        }
    }

    private static string Name(JsonNode q) =>
        ApplicationModel.Str(q, "ApplicationName") ?? throw ApplicationModel.Invalid("ApplicationName is required.");

    private static string Arn(JsonNode q) =>
        ApplicationModel.Str(q, "ResourceARN") ?? throw ApplicationModel.Invalid("ResourceARN is required.");

    private static long Version(JsonNode q) =>
        q["CurrentApplicationVersionId"] is JsonValue v && v.TryGetValue<long>(out var id)
            ? id
            : throw ApplicationModel.Invalid("CurrentApplicationVersionId is required.");

    private static void WriteSummary(WireWriter w, AnalyticsApplicationEntity a)
    {
        w.String("ApplicationName", a.Name);
        w.String("ApplicationARN", a.Arn);
        w.String("ApplicationStatus", a.Status);
    }

    private static void WriteDetail(WireWriter w, AnalyticsApplicationEntity a)
    {
        w.StartObject("ApplicationDetail");
        w.String("ApplicationName", a.Name);
        w.String("ApplicationDescription", a.Description);
        w.String("ApplicationARN", a.Arn);
        w.String("ApplicationStatus", a.Status);
        w.Timestamp("CreateTimestamp", a.CreatedAt);
        w.Timestamp("LastUpdateTimestamp", a.UpdatedAt);
        w.StartArray("InputDescriptions");
        foreach (var node in JsonNode.Parse(a.InputsJson)!.AsArray())
        {
            var input = ApplicationModel.ReadInput(node!);
            w.StartObject();
            w.String("InputId", input.Id);
            w.String("NamePrefix", input.NamePrefix);
            w.StartArray("InAppStreamNames");
            foreach (var s in input.InAppStreamNames)
                w.StringValue(s);
            w.EndArray();
            WriteRenamed(w, node!, "KinesisStreamsInput", "KinesisStreamsInputDescription");
            WriteRenamed(w, node!, "KinesisFirehoseInput", "KinesisFirehoseInputDescription");
            WriteRenamed(w, node!, "InputSchema", "InputSchema");
            w.StartObject("InputParallelism");
            w.Number("Count", input.Parallelism);
            w.EndObject();
            if (a.StartingPosition is { } position)
            {
                w.StartObject("InputStartingPositionConfiguration");
                w.String("InputStartingPosition", position);
                w.EndObject();
            }
            w.EndObject();
        }
        w.EndArray();
        WriteDescriptions(w, "OutputDescriptions", a.OutputsJson, ("OutputId", "Name"),
            "KinesisStreamsOutput", "KinesisFirehoseOutput", "LambdaOutput", ApplicationModel.PostgresOutputMember,
            "DestinationSchema");
        WriteDescriptions(w, "ReferenceDataSourceDescriptions", a.ReferenceDataSourcesJson, ("ReferenceId", "TableName"),
            "S3ReferenceDataSource", "ReferenceSchema");
        w.String("ApplicationCode", a.Code);
        w.Number("ApplicationVersionId", a.VersionId);
        w.EndObject();
    }

    /// <summary>
    /// Writes stored outputs or reference sources as AWS describes them: the two identifying strings, then each
    /// configuration member under its "...Description" name (schemas keep their own name).
    /// </summary>
    private static void WriteDescriptions(WireWriter w, string arrayName, string storedJson, (string Id, string Name) keys, params string[] members)
    {
        w.StartArray(arrayName);
        foreach (var node in JsonNode.Parse(storedJson)!.AsArray())
        {
            w.StartObject();
            w.String(keys.Id, ApplicationModel.Str(node, keys.Id));
            w.String(keys.Name, ApplicationModel.Str(node, keys.Name));
            foreach (var member in members)
                WriteRenamed(w, node!, member, member.EndsWith("Schema", StringComparison.Ordinal) ? member : member + "Description");
            w.EndObject();
        }
        w.EndArray();
    }

    private static void WriteRenamed(WireWriter w, JsonNode parent, string member, string name)
    {
        if (parent[member] is { } value)
            WriteNode(w, name, value);
    }

    /// <summary>Copies a stored configuration member into the answer (objects, arrays, strings, numbers, booleans).</summary>
    private static void WriteNode(WireWriter w, string? name, JsonNode node)
    {
        switch (node)
        {
            case JsonObject o:
                if (name is null)
                    w.StartObject();
                else
                    w.StartObject(name);
                foreach (var (k, v) in o)
                {
                    if (v is not null)
                        WriteNode(w, k, v);
                }
                w.EndObject();
                break;
            case JsonArray array:
                if (name is null)
                    w.StartArray();
                else
                    w.StartArray(name);
                foreach (var item in array)
                {
                    if (item is not null)
                        WriteNode(w, null, item);
                }
                w.EndArray();
                break;
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String:
                        if (name is null)
                            w.StringValue(v.GetValue<string>());
                        else
                            w.String(name, v.GetValue<string>());
                        break;
                    case JsonValueKind.Number:
                        var n = (long)v.GetValue<double>();
                        if (name is null)
                            w.NumberValue(n);
                        else
                            w.Number(name, n);
                        break;
                    case JsonValueKind.True or JsonValueKind.False:
                        if (name is null)
                            w.BooleanValue(v.GetValue<bool>());
                        else
                            w.Boolean(name, v.GetValue<bool>());
                        break;
                }
                break;
        }
    }

    /// <summary>DiscoverInputSchema's answer: InputSchema, ParsedInputRecords (a value a row lacks is ""), RawInputRecords.</summary>
    private static void WriteDiscovered(WireWriter w, DiscoveredSchema d)
    {
        w.StartObject("InputSchema");
        w.StartObject("RecordFormat");
        w.String("RecordFormatType", d.Format);
        w.StartObject("MappingParameters");
        if (d.Format == "JSON")
        {
            w.StartObject("JSONMappingParameters");
            w.String("RecordRowPath", "$");
        }
        else
        {
            w.StartObject("CSVMappingParameters");
            w.String("RecordRowDelimiter", "\n");
            w.String("RecordColumnDelimiter", ",");
        }
        w.EndObject();
        w.EndObject();
        w.EndObject();
        w.String("RecordEncoding", "UTF-8");
        w.StartArray("RecordColumns");
        foreach (var c in d.Columns)
        {
            w.StartObject();
            w.String("Name", c.Name);
            if (c.Mapping is not null)
                w.String("Mapping", c.Mapping);
            w.String("SqlType", c.SqlType);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        w.StartArray("ParsedInputRecords");
        foreach (var row in d.Parsed)
        {
            w.StartArray();
            foreach (var v in row)
                w.StringValue(v ?? "");
            w.EndArray();
        }
        w.EndArray();
        w.StartArray("RawInputRecords");
        foreach (var r in d.Raw)
            w.StringValue(r);
        w.EndArray();
    }
}
