using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Reports;

namespace Runnel.Benchmarks;

/// <summary>
/// Bytes each benchmark may allocate per operation, read from allocation-budgets.json. After a run every executed
/// benchmark is checked: one that allocated more than its budget, has no budget, or failed to run fails the run.
/// Budgets are limits, not measurements: lower one when an optimisation lands, so that a regression shows.
/// </summary>
public sealed class AllocationBudgets
{
    private readonly Dictionary<string, long> _bytes;

    private AllocationBudgets(Dictionary<string, long> bytes) => _bytes = bytes;

    public static AllocationBudgets Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var bytes = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var entry in doc.RootElement.GetProperty("budgets").EnumerateObject())
            bytes[entry.Name] = entry.Value.GetProperty("bytes").GetInt64();
        return new AllocationBudgets(bytes);
    }

    public static string KeyOf(BenchmarkReport report) =>
        $"{report.BenchmarkCase.Descriptor.Type.Name}.{report.BenchmarkCase.Descriptor.WorkloadMethod.Name}";

    /// <summary>Prints one line per benchmark and returns the number of violations.</summary>
    public int Check(IEnumerable<Summary> summaries, TextWriter output)
    {
        var violations = 0;
        output.WriteLine();
        output.WriteLine("Allocation budgets (bytes per operation):");
        output.WriteLine($"  {"benchmark",-52} {"allocated",10} {"budget",10}  verdict");
        foreach (var report in summaries.SelectMany(s => s.Reports))
        {
            var key = KeyOf(report);
            var allocated = report.Success ? report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase) : null;
            var hasBudget = _bytes.TryGetValue(key, out var budget);
            string verdict;
            if (allocated is null)
                verdict = "FAILED: no measurement (the benchmark did not run or the memory diagnoser is off)";
            else if (!hasBudget)
                verdict = "FAILED: no budget in allocation-budgets.json";
            else if (allocated > budget)
                verdict = $"FAILED: {allocated - budget} bytes over";
            else
                verdict = "ok";
            if (verdict != "ok")
                violations++;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {key,-52} {(allocated is { } a ? a.ToString("N0", CultureInfo.InvariantCulture) : "-"),10} {(hasBudget ? budget.ToString("N0", CultureInfo.InvariantCulture) : "-"),10}  {verdict}"));
        }
        output.WriteLine(violations == 0 ? "All allocation budgets met." : $"{violations} allocation budget violation(s).");
        return violations;
    }
}
