using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;

namespace Runnel.TestKit;

/// <summary>How to start one service as a child process.</summary>
/// <param name="Name">Label used in diagnostics ("ingest", "shardstore-1").</param>
/// <param name="AssemblyPath">The service's built dll, run as <c>dotnet {AssemblyPath} {Arguments}</c>.</param>
/// <param name="BaseAddress">Where the service listens (it must be told so through <paramref name="Arguments"/>, e.g. --urls).</param>
public sealed record ProcessHostOptions(string Name, string AssemblyPath, Uri BaseAddress, IReadOnlyList<string> Arguments)
{
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    public string? WorkingDirectory { get; init; }

    /// <summary>How long a start may take until <c>/health/ready</c> answers 200.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public string ReadyPath { get; init; } = "/health/ready";

    /// <summary>The root the readiness probe trusts on an https address (a certificate the test made); the system's otherwise.</summary>
    public X509Certificate2? TrustedCertificate { get; init; }
}

/// <summary>
/// A service running as a separate OS process: started from its build output, ready once
/// <c>/health/ready</c> answers 200, killable with SIGKILL (a crash: no shutdown code runs) and
/// restartable with the same arguments. Its output is kept for assertion messages.
/// </summary>
public sealed class ProcessHost : IAsyncDisposable
{
    private const int MaxOutputLines = 4000;
    private const int SigInt = 2;
    private const int SigTerm = 15;

    private readonly Queue<string> _output = new();
    private readonly HttpClient _http;
    private Process? _process;
    private int _starts;

    public ProcessHost(ProcessHostOptions options)
    {
        Options = options;
        var handler = new SocketsHttpHandler();
        if (options.TrustedCertificate is { } root)
        {
            handler.SslOptions.CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
                CustomTrustStore = { root },
            };
        }
        _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
    }

    public ProcessHostOptions Options { get; }

    public Uri BaseAddress => Options.BaseAddress;

    public bool IsRunning => _process is { HasExited: false };

    public int? ProcessId => _process?.Id;

    /// <summary>The last lines the process (all its runs) wrote to stdout and stderr, oldest first.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    /// <summary>Starts the process and waits until it is ready; throws with its output when it exits or times out first.</summary>
    public static async Task<ProcessHost> StartAsync(ProcessHostOptions options, CancellationToken cancellationToken = default)
    {
        var host = new ProcessHost(options);
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            return host;
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Options.Name} is already running.");
        }

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Options.WorkingDirectory ?? Path.GetDirectoryName(Options.AssemblyPath)!,
        };
        start.ArgumentList.Add(Options.AssemblyPath);
        foreach (var argument in Options.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The child must not inherit the test host's own settings (e.g. a test-only environment name).
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in Options.Environment)
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        var run = Interlocked.Increment(ref _starts);
        Append($"----- {Options.Name} start #{run}: dotnet {string.Join(' ', start.ArgumentList)}");
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { Append(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Append("[err] " + e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        await WaitReadyAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits until the ready endpoint answers 200 (bounded by <see cref="ProcessHostOptions.ReadyTimeout"/>).</summary>
    public async Task WaitReadyAsync(CancellationToken cancellationToken = default)
    {
        var ready = new Uri(Options.BaseAddress, Options.ReadyPath);
        var clock = Stopwatch.StartNew();
        string last = "no answer yet";
        while (true)
        {
            var process = _process ?? throw new InvalidOperationException($"{Options.Name} was not started.");
            if (process.HasExited)
            {
                throw new InvalidOperationException(
                    $"{Options.Name} exited with code {process.ExitCode} before it was ready.\n{Output}");
            }

            try
            {
                using var response = await _http.GetAsync(ready, cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }

                last = $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                last = e.Message;
            }

            if (clock.Elapsed > Options.ReadyTimeout)
            {
                throw new TimeoutException(
                    $"{Options.Name} was not ready at {ready} within {Options.ReadyTimeout.TotalSeconds:0}s (last: {last}).\n{Output}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>SIGKILL: the process ends at once, mid-write if it was writing; nothing flushes.</summary>
    public async Task KillAsync()
    {
        var process = _process;
        if (process is null || process.HasExited)
        {
            return;
        }

        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync().ConfigureAwait(false);
        Append($"----- {Options.Name} killed (SIGKILL)");
    }

    /// <summary>SIGTERM and wait for a clean exit; SIGKILL if it takes longer than <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        var process = _process;
        if (process is null || process.HasExited)
        {
            return;
        }

        if (OperatingSystem.IsWindows() || NativeMethods.Kill(process.Id, SigTerm) != 0)
        {
            await KillAsync().ConfigureAwait(false);
            return;
        }

        using var timeout = new CancellationTokenSource(grace ?? TimeSpan.FromSeconds(10));
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            Append($"----- {Options.Name} stopped (exit code {process.ExitCode})");
        }
        catch (OperationCanceledException)
        {
            await KillAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// SIGINT, as Ctrl-C in a terminal sends, and waits up to <paramref name="timeout"/> for the process to end by
    /// itself. Returns its exit code, or null when it did not end in time (it is then killed).
    /// </summary>
    public async Task<int?> InterruptAsync(TimeSpan timeout)
    {
        var process = _process;
        if (process is null || process.HasExited)
        {
            return process?.ExitCode;
        }

        if (OperatingSystem.IsWindows() || NativeMethods.Kill(process.Id, SigInt) != 0)
        {
            throw new InvalidOperationException($"SIGINT could not be sent to {Options.Name}.");
        }

        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await KillAsync().ConfigureAwait(false);
            return null;
        }

        Append($"----- {Options.Name} interrupted (exit code {process.ExitCode})");
        return process.ExitCode;
    }

    /// <summary>Kills (SIGKILL) and starts again with the same arguments, environment and port.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await KillAsync().ConfigureAwait(false);
        await StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _process?.Dispose();
        _http.Dispose();
    }

    public override string ToString() => $"{Options.Name} ({Options.BaseAddress}, pid {_process?.Id})";

    private void Append(string line)
    {
        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > MaxOutputLines)
            {
                _output.Dequeue();
            }
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        public static extern int Kill(int pid, int signal);
    }
}
