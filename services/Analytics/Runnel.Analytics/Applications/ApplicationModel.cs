using System.Globalization;
using System.Text.Json.Nodes;
using Runnel.Analytics.Sql;
using Runnel.Core.Errors;
using Runnel.Core.Streams;
using Runnel.ServiceDefaults.Outbound;

namespace Runnel.Analytics.Applications;

public sealed record InputColumn(string Name, string? Mapping, string SqlType, SqlKind Kind);

/// <summary>How records of an input become rows: JSON (a JSONPath per column) or CSV (columns by position).</summary>
public sealed record InputSchemaModel(string Format, string RowDelimiter, string ColumnDelimiter, IReadOnlyList<InputColumn> Columns);

public sealed record InputModel(string Id, string NamePrefix, string? StreamArn, string? FirehoseArn, int Parallelism, InputSchemaModel Schema)
{
    /// <summary>The stream or delivery stream the input reads.</summary>
    public string ResourceArn => StreamArn ?? FirehoseArn!;

    /// <summary>The in-application streams the input feeds: NamePrefix_001 up to its parallelism.</summary>
    public IReadOnlyList<string> InAppStreamNames =>
        [.. Enumerable.Range(1, Parallelism).Select(i => NamePrefix + "_" + i.ToString("D3", CultureInfo.InvariantCulture))];

    public IEnumerable<StreamSchema> SourceSchemas =>
        InAppStreamNames.Select(n => new StreamSchema(n, Schema.Columns.Select(c => new SqlColumn(c.Name, c.Kind, c.SqlType)), isSource: true));
}

/// <summary>A reference data source: an S3 object loaded into an in-application table.</summary>
public sealed record ReferenceModel(string Id, string TableName, string Bucket, string FileKey, InputSchemaModel Schema)
{
    public ReferenceTableSchema TableSchema => new(TableName, [.. Schema.Columns.Select(c => new SqlColumn(c.Name, c.Kind, c.SqlType))]);
}

/// <summary>Runnel's extension output: upserts the rows of an in-application stream into a PostgreSQL table.</summary>
public sealed record PostgresTableOutput(string Database, string Table, IReadOnlyList<string> KeyColumns);

public sealed record OutputModel(string Id, string Name, string? StreamArn, string? FirehoseArn, string? LambdaArn, string Format, PostgresTableOutput? Table);

/// <summary>
/// Reads and checks the configuration members of the Kinesis Analytics API (Input, Output) as stored: the request's
/// JSON with the ids the service assigned. Every check throws InvalidArgumentException in the service's words.
/// </summary>
public static class ApplicationModel
{
    public const string PostgresOutputMember = "RunnelPostgresTableOutput";

    public static InputModel ReadInput(JsonNode node)
    {
        var id = node["InputId"]?.GetValue<string>() ?? "1.1";
        var prefix = Str(node, "NamePrefix") ?? throw Invalid("Input NamePrefix is required.");
        if (prefix.Length is < 1 or > 32)
            throw Invalid("Input NamePrefix must be 1 to 32 characters long.");
        var streams = node["KinesisStreamsInput"];
        var firehose = node["KinesisFirehoseInput"];
        if ((streams is null) == (firehose is null))
            throw Invalid("An input needs exactly one of KinesisStreamsInput and KinesisFirehoseInput.");
        var streamArn = streams is null ? null : Str(streams, "ResourceARN") ?? throw Invalid("KinesisStreamsInput ResourceARN is required.");
        var firehoseArn = firehose is null ? null : Str(firehose, "ResourceARN") ?? throw Invalid("KinesisFirehoseInput ResourceARN is required.");
        var parallelism = node["InputParallelism"]?["Count"]?.GetValue<int>() ?? 1;
        if (parallelism is < 1 or > 64)
            throw Invalid("InputParallelism Count must be between 1 and 64.");
        var schema = node["InputSchema"] ?? throw Invalid("Input InputSchema is required.");
        return new InputModel(id, prefix, streamArn, firehoseArn, parallelism, ReadSchema(schema));
    }

    public static ReferenceModel ReadReference(JsonNode node)
    {
        var id = node["ReferenceId"]?.GetValue<string>() ?? "1.1";
        var table = Str(node, "TableName") ?? throw Invalid("ReferenceDataSource TableName is required.");
        if (table.Length is < 1 or > 32)
            throw Invalid("ReferenceDataSource TableName must be 1 to 32 characters long.");
        var s3 = node["S3ReferenceDataSource"] ?? throw Invalid("ReferenceDataSource S3ReferenceDataSource is required.");
        var (bucket, key) = ReadS3Object(s3, "S3ReferenceDataSource");
        var schema = node["ReferenceSchema"] ?? throw Invalid("ReferenceDataSource ReferenceSchema is required.");
        return new ReferenceModel(id, table, bucket, key, ReadSchema(schema));
    }

    /// <summary>The bucket (from <c>BucketARN</c>, <c>arn:aws:s3:::bucket</c>) and <c>FileKey</c> of an S3 object member.</summary>
    public static (string Bucket, string Key) ReadS3Object(JsonNode s3, string member)
    {
        var bucketArn = Str(s3, "BucketARN") ?? throw Invalid($"{member} BucketARN is required.");
        const string prefix = "arn:aws:s3:::";
        if (!bucketArn.StartsWith(prefix, StringComparison.Ordinal) || bucketArn.Length == prefix.Length || bucketArn[prefix.Length..].Contains('/'))
            throw Invalid($"BucketARN {bucketArn} is not an S3 bucket ARN (arn:aws:s3:::bucket).");
        var key = Str(s3, "FileKey") ?? throw Invalid($"{member} FileKey is required.");
        if (key.Length is < 1 or > 1024)
            throw Invalid($"{member} FileKey must be 1 to 1024 characters long.");
        return (bucketArn[prefix.Length..], key);
    }

    public static InputSchemaModel ReadSchema(JsonNode schema)
    {
        var format = schema["RecordFormat"] ?? throw Invalid("InputSchema RecordFormat is required.");
        var type = Str(format, "RecordFormatType") ?? throw Invalid("RecordFormat RecordFormatType is required.");
        if (type is not ("JSON" or "CSV"))
            throw Invalid($"RecordFormatType {type} is not JSON or CSV.");
        var csv = format["MappingParameters"]?["CSVMappingParameters"];
        var rowDelimiter = csv is null ? "\n" : Str(csv, "RecordRowDelimiter") ?? "\n";
        var columnDelimiter = csv is null ? "," : Str(csv, "RecordColumnDelimiter") ?? ",";
        if (rowDelimiter.Length == 0 || columnDelimiter.Length == 0)
            throw Invalid("CSV delimiters cannot be empty.");
        var columns = new List<InputColumn>();
        foreach (var c in schema["RecordColumns"]?.AsArray() ?? [])
        {
            var name = Str(c!, "Name") ?? throw Invalid("RecordColumn Name is required.");
            var sqlType = Str(c!, "SqlType") ?? throw Invalid($"RecordColumn {name} needs a SqlType.");
            var baseType = sqlType.Split('(', ' ')[0].Trim().ToUpperInvariant();
            var kind = Parser.KindOf(baseType) ?? throw Invalid($"RecordColumn {name} has an unsupported SqlType {sqlType}.");
            var mapping = Str(c!, "Mapping");
            if (type == "JSON" && mapping is not null && !mapping.StartsWith('$'))
                throw Invalid($"RecordColumn {name} Mapping must be a JSONPath starting with $.");
            if (columns.Any(x => x.Name == name) || name is StreamSchema.RowTime or StreamSchema.ArrivalTime)
                throw Invalid($"RecordColumn {name} is a duplicate or reserved name.");
            columns.Add(new InputColumn(name, mapping, sqlType, kind));
        }
        if (columns.Count == 0)
            throw Invalid("InputSchema needs at least one RecordColumn.");
        return new InputSchemaModel(type, rowDelimiter, columnDelimiter, columns);
    }

    public static OutputModel ReadOutput(JsonNode node)
    {
        var id = node["OutputId"]?.GetValue<string>() ?? "1.1";
        var name = Str(node, "Name") ?? throw Invalid("Output Name is required.");
        var streams = node["KinesisStreamsOutput"];
        var firehose = node["KinesisFirehoseOutput"];
        var lambda = node["LambdaOutput"];
        var table = node[PostgresOutputMember];
        if (new[] { streams, firehose, lambda, table }.Count(x => x is not null) != 1)
            throw Invalid($"Output {name} needs exactly one of KinesisStreamsOutput, KinesisFirehoseOutput, LambdaOutput and {PostgresOutputMember}.");
        var format = Str(node["DestinationSchema"], "RecordFormatType") ?? throw Invalid($"Output {name} needs DestinationSchema RecordFormatType.");
        if (format is not ("JSON" or "CSV"))
            throw Invalid($"Output {name} RecordFormatType {format} is not JSON or CSV.");
        PostgresTableOutput? pg = null;
        if (table is not null)
        {
            var keys = (table["KeyColumns"]?.AsArray() ?? []).Select(k => k!.GetValue<string>()).ToList();
            pg = new PostgresTableOutput(
                Str(table, "Database") ?? throw Invalid($"{PostgresOutputMember} Database is required."),
                Str(table, "TableName") ?? throw Invalid($"{PostgresOutputMember} TableName is required."),
                keys.Count > 0 ? keys : throw Invalid($"{PostgresOutputMember} needs KeyColumns (the window and key columns)."));
            if (!IsPlainName(pg.Table) || pg.KeyColumns.Any(k => !IsPlainName(k)))
                throw Invalid($"{PostgresOutputMember} TableName and KeyColumns must be plain identifiers (letters, digits, _).");
        }
        var streamArn = streams is null ? null : Str(streams, "ResourceARN") ?? throw Invalid("KinesisStreamsOutput ResourceARN is required.");
        if (streamArn is not null && !Arns.TryParseStream(streamArn, out _))
            throw Invalid($"KinesisStreamsOutput ResourceARN {streamArn} is not a Kinesis stream ARN.");
        var firehoseArn = firehose is null ? null : Str(firehose, "ResourceARN") ?? throw Invalid("KinesisFirehoseOutput ResourceARN is required.");
        if (firehoseArn is not null && !Arns.TryParseDeliveryStream(firehoseArn, out _))
            throw Invalid($"KinesisFirehoseOutput ResourceARN {firehoseArn} is not a Firehose delivery stream ARN.");
        var lambdaArn = lambda is null ? null : Str(lambda, "ResourceARN") ?? throw Invalid("LambdaOutput ResourceARN is required.");
        // A function is named by its http(s) URL, as an event source mapping's FunctionName is.
        if (lambdaArn is not null && DestinationPolicy.HttpUrl(lambdaArn) is null)
            throw Invalid($"LambdaOutput ResourceARN {lambdaArn} is not the function's absolute http(s) URL.");
        return new OutputModel(id, name, streamArn, firehoseArn, lambdaArn, format, pg);
    }

    private static bool IsPlainName(string s) =>
        s.Length is > 0 and <= 63 && s.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') && !char.IsAsciiDigit(s[0]);

    public static string? Str(JsonNode? node, string member) =>
        node?[member] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    public static KinesisException Invalid(string message) => KinesisException.InvalidArgument(message);
}
