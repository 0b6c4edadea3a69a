using System.Net;
using System.Net.Sockets;
using Runnel.TestKit;

namespace Runnel.Hardening.Tests;

/// <summary>Standalone started as its users start it: its own process, settings from the environment and the command line.</summary>
public sealed class StartupTests
{
    private static string Standalone => RepositoryPaths.ServiceAssembly("Runnel.Standalone");

    [Fact]
    public async Task ASPNETCORE_URLS_is_where_Standalone_listens()
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("runnel-urls");
        var address = new Uri($"http://127.0.0.1:{FreePorts.Get()}");
        await using var host = await ProcessHost.StartAsync(new ProcessHostOptions("standalone", Standalone, address,
            [$"--Runnel:DataDirectory={data.Path}"])
        {
            Environment = new Dictionary<string, string?> { ["ASPNETCORE_URLS"] = address.ToString() },
            WorkingDirectory = data.Path,
        }, ct);
        // Ready on that port already; the banner names it too.
        await Wait.UntilAsync(() => host.Output.Contains($"listening on {address.ToString().TrimEnd('/')}", StringComparison.Ordinal),
            TimeSpan.FromSeconds(15), "the banner to name the address", cancellationToken: ct);
    }

    [Fact]
    public async Task A_port_in_use_is_one_line_naming_it_and_a_non_zero_exit()
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("runnel-busy");
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;

        var run = await ExternalCommand.RunAsync("dotnet", [Standalone, $"--urls=http://127.0.0.1:{port}", $"--Runnel:DataDirectory={data.Path}"],
            TimeSpan.FromSeconds(60), workingDirectory: data.Path, cancellationToken: ct);

        var said = run.StandardOutput + run.StandardError;
        Assert.True(run.ExitCode != 0, run.Describe("standalone"));
        var lines = said.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(lines.Length == 1, $"expected one line:\n{said}");
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), lines[0]);
        Assert.Contains("--urls", lines[0]);
        Assert.DoesNotContain(" at ", said);
    }
}
