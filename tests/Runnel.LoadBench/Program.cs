using Runnel.LoadBench;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(BenchOptions.Usage);
    return args.Length == 0 ? 2 : 0;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

try
{
    if (args[0] == "report")
        return await ReportWriter.RunAsync(args[1..], cancel.Token);
    var options = BenchOptions.Parse(args[0] == "run" ? args[1..] : args);
    return await BenchRunner.RunAsync(options, cancel.Token);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine("Run with --help for the options.");
    return 2;
}
catch (Exception e) when (e is HttpRequestException or KinesisErrorException or TimeoutException or IOException)
{
    // The endpoint is down or refused the set-up (stream creation): nothing was measured.
    Console.Error.WriteLine($"The run failed: {e.Message}");
    return 1;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine("Cancelled.");
    return 130;
}
