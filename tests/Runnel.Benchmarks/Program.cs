using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Running;
using Runnel.Benchmarks;

// `--budgets FILE` picks another budget file; every other argument goes to BenchmarkDotNet (--filter, --job, ...).
var budgetPath = Path.Combine(AppContext.BaseDirectory, "allocation-budgets.json");
var rest = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--budgets" && i + 1 < args.Length)
        budgetPath = args[++i];
    else
        rest.Add(args[i]);
}

var budgets = AllocationBudgets.Load(budgetPath);
var config = DefaultConfig.Instance
    .AddDiagnoser(MemoryDiagnoser.Default)
    .AddExporter(JsonExporter.Full);
var summaries = BenchmarkSwitcher.FromAssembly(typeof(AllocationBudgets).Assembly).Run([.. rest], config).ToList();

if (summaries.Count == 0 || summaries.All(s => s.Reports.Length == 0))
{
    var informational = rest.Any(a => a is "--list" or "--help" or "-h" or "--info" or "--version");
    if (!informational)
        Console.Error.WriteLine("No benchmark ran (check --filter).");
    return informational ? 0 : 1;
}
return budgets.Check(summaries, Console.Out) == 0 ? 0 : 1;
