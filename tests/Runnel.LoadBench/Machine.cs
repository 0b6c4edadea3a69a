using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Runnel.LoadBench;

/// <summary>The machine the figures were taken on.</summary>
public sealed record MachineInfo(string Cpu, int Cores, double MemoryGiB, string Os, string Kernel, string Runtime, string DataDisk)
{
    public static MachineInfo Collect()
    {
        var cpu = ReadFirst("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString();
        var memKb = ReadFirst("/proc/meminfo", "MemTotal") is { } m ? ParseKb(m) : 0;
        var os = ReadOsRelease() ?? RuntimeInformation.OSDescription;
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "";
        return new MachineInfo(cpu, Environment.ProcessorCount, Math.Round(memKb / 1024.0 / 1024.0, 1), os, kernel,
            RuntimeInformation.FrameworkDescription, DescribeDisk(Path.GetTempPath()));
    }

    private static string? ReadFirst(string path, string key)
    {
        if (!File.Exists(path))
            return null;
        foreach (var line in File.ReadLines(path))
            if (line.StartsWith(key, StringComparison.Ordinal) && line.IndexOf(':', StringComparison.Ordinal) is var i and > 0)
                return line[(i + 1)..].Trim();
        return null;
    }

    internal static long ParseKb(string value) =>
        long.TryParse(value.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb : 0;

    private static string? ReadOsRelease()
    {
        if (!File.Exists("/etc/os-release"))
            return null;
        foreach (var line in File.ReadLines("/etc/os-release"))
            if (line.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))
                return line["PRETTY_NAME=".Length..].Trim('"');
        return null;
    }

    /// <summary>File system type of the temp folder (where the scripts keep server data), from /proc/mounts.</summary>
    private static string DescribeDisk(string path)
    {
        if (!File.Exists("/proc/mounts"))
            return "";
        string best = "", type = "";
        foreach (var line in File.ReadLines("/proc/mounts"))
        {
            var parts = line.Split(' ');
            if (parts.Length >= 3 && path.StartsWith(parts[1], StringComparison.Ordinal) && parts[1].Length > best.Length)
                (best, type) = (parts[1], parts[2]);
        }
        return type.Length > 0 ? $"{type} at {best}" : "";
    }
}

/// <summary>
/// Samples the server processes while a scenario runs: resident memory every 50 ms (the sum over all processes of a
/// deployment), and CPU time, disk writes and the machine's busy and iowait time as differences over the scenario.
/// Linux only (/proc); elsewhere the figures are zero.
/// </summary>
public sealed class ResourceSampler : IAsyncDisposable
{
    // USER_HZ, the unit of /proc CPU times, is 100 on every Linux ABI .NET runs on.
    private const double TicksPerSecond = 100;

    private readonly IReadOnlyList<int> _pids;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private readonly long _serverCpuStart;
    private readonly long _serverWriteStart;
    private readonly TimeSpan _selfCpuStart = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly (long Busy, long Iowait, long Total) _machineStart;
    private long _peakRssKb;

    private ResourceSampler(IReadOnlyList<int> pids)
    {
        _pids = pids;
        foreach (var pid in pids)
        {
            if (!File.Exists($"/proc/{pid}/stat"))
                throw new InvalidOperationException($"Server process {pid} does not exist.");
            // Resets the kernel's peak-RSS mark (VmHWM), so the peak below is this scenario's; needs permission.
            try
            {
                File.WriteAllText($"/proc/{pid}/clear_refs", "5");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        _serverCpuStart = _pids.Sum(CpuTicks);
        _serverWriteStart = _pids.Sum(WriteBytes);
        _machineStart = MachineTicks();
        _peakRssKb = _pids.Sum(p => Status(p, "VmRSS:"));
        _loop = Task.Run(() => SampleAsync(_stop.Token));
    }

    public static ResourceSampler Start(IReadOnlyList<int> pids) => new(pids);

    private async Task SampleAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var rss = _pids.Sum(p => Status(p, "VmRSS:"));
                if (rss > _peakRssKb)
                    _peakRssKb = rss;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async Task<ResourceUsage> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(_startTimestamp).TotalSeconds;
        var peak = _peakRssKb;
        // One process: the kernel's exact peak beats 50 ms sampling. Several: their peaks need not coincide, so the sampled sum.
        if (_pids.Count == 1)
            peak = Math.Max(peak, Status(_pids[0], "VmHWM:"));
        var serverCpu = (_pids.Sum(CpuTicks) - _serverCpuStart) / TicksPerSecond;
        var selfCpu = (Process.GetCurrentProcess().TotalProcessorTime - _selfCpuStart).TotalSeconds;
        var machine = MachineTicks();
        var total = Math.Max(1, machine.Total - _machineStart.Total);
        return new ResourceUsage(
            PeakRssMiB: Math.Round(peak / 1024.0, 1),
            ServerCpuCores: Math.Round(serverCpu / seconds, 2),
            BenchCpuCores: Math.Round(selfCpu / seconds, 2),
            MachineCores: Environment.ProcessorCount,
            MachineBusyPercent: Math.Round(100.0 * (machine.Busy - _machineStart.Busy) / total, 1),
            MachineIowaitPercent: Math.Round(100.0 * (machine.Iowait - _machineStart.Iowait) / total, 1),
            ServerWriteMiB: Math.Round((_pids.Sum(WriteBytes) - _serverWriteStart) / 1048576.0, 1));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
            await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>Resident memory of a process in KiB (0 when it is gone).</summary>
    public static long RssKb(int pid) => Status(pid, "VmRSS:");

    private static long Status(int pid, string key)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith(key, StringComparison.Ordinal))
                    return MachineInfo.ParseKb(line[key.Length..].Trim());
        }
        catch (IOException)
        {
        }
        return 0;
    }

    /// <summary>utime + stime of a process in USER_HZ ticks.</summary>
    private static long CpuTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may hold spaces; fields 14 and 15 follow it.
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(rest[11], CultureInfo.InvariantCulture) + long.Parse(rest[12], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static long WriteBytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/io"))
                if (line.StartsWith("write_bytes:", StringComparison.Ordinal))
                    return long.Parse(line["write_bytes:".Length..].Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return 0;
    }

    private static (long Busy, long Iowait, long Total) MachineTicks()
    {
        if (!File.Exists("/proc/stat"))
            return (0, 0, 0);
        var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long F(int i) => i < cpu.Length ? long.Parse(cpu[i], CultureInfo.InvariantCulture) : 0;
        // user nice system idle iowait irq softirq steal
        var busy = F(1) + F(2) + F(3) + F(6) + F(7) + F(8);
        var idle = F(4);
        var iowait = F(5);
        return (busy, iowait, busy + idle + iowait);
    }
}
