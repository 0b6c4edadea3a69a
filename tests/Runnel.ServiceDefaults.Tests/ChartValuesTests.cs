using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using Runnel.TestKit;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Runnel.ServiceDefaults.Tests;

/// <summary>
/// Every chart's default values satisfy its <c>values.schema.json</c>, the check <c>helm install</c> applies, so a
/// value added to one file and not the other fails here rather than at deployment.
/// </summary>
public sealed class ChartValuesTests
{
    private static string ChartsFolder => Path.Combine(RepositoryPaths.Root, "charts");

    public static TheoryData<string> Charts => [.. Directory.GetDirectories(ChartsFolder)
        .Where(d => File.Exists(Path.Combine(d, "values.schema.json")))
        .Select(d => Path.GetFileName(d))
        .Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Charts))]
    public void Default_values_satisfy_the_schema(string chart)
    {
        var result = Evaluate(chart, _ => { });
        Assert.True(result.IsValid, Describe(result));
    }

    [Fact]
    public void The_schema_refuses_a_mistyped_value_and_an_unknown_key()
    {
        Assert.True(Charts.Count() >= 6);
        Assert.False(Evaluate("ingest", v => v["throttling"]!["shard"]!["writeRecordsPerSecond"] = "fast").IsValid);
        Assert.False(Evaluate("ingest", v => v["capacity"]!["quietPeriodMinutes"] = 5).IsValid);
        Assert.False(Evaluate("ingest", v => v["capacity"]!["quietPeriod"] = "30 minutes").IsValid);
    }

    [Fact]
    public void Every_service_has_an_internal_port_that_only_this_releases_pods_reach()
    {
        foreach (var chart in new[] { "ingest", "shardstore", "fanout", "firehose", "analytics" })
        {
            var yaml = new YamlStream();
            using (var reader = new StreamReader(Path.Combine(ChartsFolder, chart, "values.yaml")))
                yaml.Load(reader);
            var values = (YamlMappingNode)yaml.Documents[0].RootNode;
            var publicPort = ((YamlScalarNode)values["containerPort"]).Value;
            var internalPort = ((YamlScalarNode)values["internalPort"]).Value;
            Assert.NotEqual(publicPort, internalPort);
        }
        Assert.False(Evaluate("shardstore", v => v.Remove("internalPort")).IsValid);
        var workloads = File.ReadAllText(Path.Combine(ChartsFolder, "runnel-common", "templates", "_workloads.tpl"));
        var policy = workloads[workloads.IndexOf("define \"runnel-common.networkPolicy\"", StringComparison.Ordinal)..];
        // The first ingress rule, before the allowExternal switch, admits this release's pods on the internal port.
        var rule = policy[policy.IndexOf("ingress:", StringComparison.Ordinal)..policy.IndexOf("allowExternal", StringComparison.Ordinal)];
        Assert.Contains("app.kubernetes.io/instance: {{ .Release.Name }}", rule);
        Assert.Contains("- port: internal", rule);
        Assert.Contains("Runnel__Internal__Token", File.ReadAllText(Path.Combine(ChartsFolder, "runnel-common", "templates", "_env.tpl")));
    }

    [Fact]
    public void Tls_on_the_public_port_needs_a_certificate_secret_and_names_known_charts()
    {
        static JsonObject Tls(JsonObject values) => values["global"]!["tls"]!.AsObject();
        Assert.False(Tls(Values("runnel"))["enabled"]!.GetValue<bool>());
        Assert.True(Evaluate("runnel", v => { Tls(v)["enabled"] = true; Tls(v)["existingSecret"] = "runnel-tls"; }).IsValid);
        Assert.False(Evaluate("runnel", v => Tls(v)["enabled"] = true).IsValid);
        Assert.False(Evaluate("runnel", v => { Tls(v)["enabled"] = true; Tls(v)["existingSecret"] = "runnel-tls"; Tls(v)["services"] = new JsonArray("gateway"); }).IsValid);
        Assert.False(Evaluate("runnel", v => Tls(v)["certificatePath"] = "/tls.crt").IsValid);
    }

    private static JsonObject Values(string chart)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(ChartsFolder, chart, "values.yaml")))
            yaml.Load(reader);
        return (JsonObject)ToJson(yaml.Documents[0].RootNode)!;
    }

    private static EvaluationResults Evaluate(string chart, Action<JsonObject> change)
    {
        var folder = Path.Combine(ChartsFolder, chart);
        var schema = JsonSchema.FromText(File.ReadAllText(Path.Combine(folder, "values.schema.json")));
        var values = Values(chart);
        change(values);
        using var document = JsonDocument.Parse(values.ToJsonString());
        return schema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
    }

    private static string Describe(EvaluationResults result) => string.Join('\n', (result.Details ?? [])
        .Where(d => d.Errors is { Count: > 0 })
        .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")));

    /// <summary>YAML as Helm reads it: plain scalars become booleans, numbers and nulls by the YAML core schema; quoted ones stay strings.</summary>
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, ToJson(kv.Value)))),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(ToJson)]),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new InvalidOperationException($"Unexpected YAML node {node.NodeType}"),
    };

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any))
            return JsonValue.Create(text);
        return text switch
        {
            "" or "~" or "null" or "Null" or "NULL" => null,
            "true" or "True" or "TRUE" => JsonValue.Create(true),
            "false" or "False" or "FALSE" => JsonValue.Create(false),
            _ when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var whole) => JsonValue.Create(whole),
            _ when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var real) => JsonValue.Create(real),
            _ => JsonValue.Create(text),
        };
    }
}
