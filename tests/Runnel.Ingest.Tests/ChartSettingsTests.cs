using System.Reflection;
using System.Text.RegularExpressions;
using Runnel.Ingest.Capacity;
using Runnel.Ingest.Options;
using Runnel.Ingest.Throttling;
using Runnel.TestKit;

namespace Runnel.Ingest.Tests;

/// <summary>
/// The ingest chart renders its <c>throttling</c>, <c>capacity</c> and <c>streams</c> values as configuration keys
/// (<c>Section__Property__...</c>). A misspelt key is ignored at run time, so each must name a settable property of
/// the options class its section binds to.
/// </summary>
public sealed partial class ChartSettingsTests
{
    [GeneratedRegex("\"([A-Za-z]+(?:__[A-Za-z]+)+)\"")]
    private static partial Regex ConfigurationKey();

    [Fact]
    public void Keys_rendered_by_the_ingest_chart_name_options_properties()
    {
        var template = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "charts", "ingest", "templates", "deployment.yaml"));
        var keys = ConfigurationKey().Matches(template).Select(m => m.Groups[1].Value).Distinct().ToList();
        // 8 throttling, 9 capacity and 4 stream settings.
        Assert.Equal(21, keys.Count);

        var sections = new Dictionary<string, Type>(StringComparer.Ordinal)
        {
            [ThrottlingOptions.Section] = typeof(ThrottlingOptions),
            [CapacityOptions.Section] = typeof(CapacityOptions),
            [IngestOptions.Section] = typeof(IngestOptions),
        };
        foreach (var key in keys)
        {
            var parts = key.Split("__");
            Assert.True(sections.TryGetValue(parts[0], out var type), $"{key}: no options class binds section {parts[0]}");
            foreach (var name in parts[1..])
            {
                var property = type.GetProperty(name, BindingFlags.Public | BindingFlags.Instance);
                Assert.True(property is not null && (property.CanWrite || !property.PropertyType.IsValueType),
                    $"{key}: {type.Name} has no settable property {name}");
                type = property.PropertyType;
            }
        }
    }
}
