using System.Formats.Cbor;
using Npgsql;

namespace Runnel.TestKit.Tests;

public sealed class TestKitTests
{
    [Fact]
    public void Require_names_the_missing_variable_and_how_to_start_servers()
    {
        var variable = "RUNNEL_TEST_UNSET_" + Guid.NewGuid().ToString("N");

        var error = Assert.Throws<InvalidOperationException>(() => TestServers.Require(variable, "a server"));

        Assert.Contains(variable, error.Message, StringComparison.Ordinal);
        Assert.Contains(".ci/run", error.Message, StringComparison.Ordinal);
        Assert.Contains(".ci/servers", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Free_ports_are_distinct_and_bindable()
    {
        var ports = FreePorts.Get(20);

        Assert.Equal(20, ports.Distinct().Count());
        Assert.All(ports, p => Assert.InRange(p, 1, 65535));
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, ports[0]);
        listener.Start();
    }

    [Fact]
    public async Task Wait_returns_when_the_condition_holds_and_times_out_otherwise()
    {
        var calls = 0;
        await Wait.UntilAsync(() => ++calls >= 3, TimeSpan.FromSeconds(5), "three calls", TimeSpan.FromMilliseconds(1), TestContext.Current.CancellationToken);
        Assert.Equal(3, calls);

        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            Wait.UntilAsync(new Func<bool>(() => throw new IOException("not yet")), TimeSpan.FromMilliseconds(200), "the impossible", cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("the impossible", error.Message, StringComparison.Ordinal);
        Assert.Contains("not yet", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Temp_directory_is_removed_with_its_contents()
    {
        string path;
        using (var dir = new TempDirectory("kit"))
        {
            path = dir.Path;
            File.WriteAllText(Path.Combine(dir.Combine("a/b", create: true), "f.txt"), "x");
            Assert.True(Directory.Exists(path));
        }

        Assert.False(Directory.Exists(path));
    }

    [Fact]
    public async Task External_command_captures_output_and_exit_code()
    {
        var result = await ExternalCommand.RunAsync("sh", ["-c", "echo out; echo err 1>&2; exit 3"], TimeSpan.FromSeconds(20),
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(3, result.ExitCode);
        Assert.Equal("out", result.StandardOutput.Trim());
        Assert.Equal("err", result.StandardError.Trim());
    }

    [Fact]
    public async Task External_command_is_bounded_in_time()
    {
        await Assert.ThrowsAsync<TimeoutException>(() =>
            ExternalCommand.RunAsync("sleep", ["30"], TimeSpan.FromMilliseconds(300), cancellationToken: TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Repository_root_holds_the_solution()
    {
        Assert.True(File.Exists(Path.Combine(RepositoryPaths.Root, "Platform.sln")));
        Assert.False(string.IsNullOrEmpty(RepositoryPaths.Configuration));
    }

    [Fact]
    public async Task Postgres_database_is_private_to_its_fixture_and_dropped_on_dispose()
    {
        var ct = TestContext.Current.CancellationToken;
        string name;
        await using (var database = await PostgresDatabase.CreateAsync("kit", ct))
        {
            name = database.Name;
            await using var connection = new NpgsqlConnection(database.ConnectionString);
            await connection.OpenAsync(ct);
            await using var command = new NpgsqlCommand("CREATE TABLE t (v int); INSERT INTO t VALUES (42); SELECT current_database()", connection);
            Assert.Equal(name, (string?)await command.ExecuteScalarAsync(ct));
        }

        var server = new NpgsqlConnectionStringBuilder(await TestServers.PostgresAsync()) { Pooling = false };
        await using var admin = new NpgsqlConnection(server.ConnectionString);
        await admin.OpenAsync(ct);
        await using var exists = new NpgsqlCommand("SELECT count(*) FROM pg_database WHERE datname = @n", admin);
        exists.Parameters.AddWithValue("n", name);
        Assert.Equal(0L, (long)(await exists.ExecuteScalarAsync(ct))!);
    }

    [Fact]
    public void Cbor_document_reads_maps_lists_values_and_keeps_tags()
    {
        var w = new CborWriter(CborConformanceMode.Lax, convertIndefiniteLengthEncodings: false);
        w.WriteStartMap(null);
        w.WriteTextString("Name"); w.WriteTextString("s");
        w.WriteTextString("Data"); w.WriteByteString([1, 2]);
        w.WriteTextString("At"); w.WriteTag(CborTag.UnixTimeSeconds); w.WriteInt64(1_700_000_000_250);
        w.WriteTextString("Items"); w.WriteStartArray(2); w.WriteInt64(-3); w.WriteBoolean(true); w.WriteEndArray();
        w.WriteTextString("Missing"); w.WriteNull();
        w.WriteEndMap();

        var document = CborDocument.Read(w.Encode());

        Assert.Equal("s", document["Name"]);
        Assert.Equal([1, 2], (byte[])document["Data"]!);
        Assert.Equal((CborTag.UnixTimeSeconds, (object?)1_700_000_000_250L), ((CborTag, object?))document["At"]!);
        Assert.Equal([-3L, true], (List<object?>)document["Items"]!);
        Assert.Null(document["Missing"]);
    }
}
