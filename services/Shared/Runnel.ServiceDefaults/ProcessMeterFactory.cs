using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Runnel.ServiceDefaults;

/// <summary>
/// An <see cref="IMeterFactory"/> whose <c>Runnel.*</c> meters live as long as the process.
/// </summary>
/// <remarks>
/// OpenTelemetry listens with a process-wide <see cref="MeterListener"/>, so every meter provider in the process
/// folds the same-named instruments of every host into one metric stream. When a host disposes its meter before
/// that stream was first collected, the stream is retired and the measurements of hosts still running are
/// dropped. A deployed process runs one host, but tests and tools run several in one process; sharing one Runnel
/// meter per name and version, never disposed, keeps every host's series. Other meters (the framework's, which
/// keep per-host state such as ASP.NET Core's request metrics) and meters with tags belong to the factory and end
/// with it, as with the default factory.
/// </remarks>
internal sealed class ProcessMeterFactory : IMeterFactory
{
    private static readonly ConcurrentDictionary<(string Name, string? Version), Meter> Shared = new();
    private readonly ConcurrentBag<Meter> _owned = [];

    public Meter Create(MeterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Name.StartsWith("Runnel.", StringComparison.Ordinal) || (options.Tags is not null && options.Tags.Any()))
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
            _owned.Add(meter);
            return meter;
        }
        return Shared.GetOrAdd((options.Name, options.Version), static key => new Meter(key.Name, key.Version));
    }

    public void Dispose()
    {
        foreach (var meter in _owned)
        {
            meter.Dispose();
        }
    }
}
