using System.Text;
using Npgsql;
using Runnel.Firehose.Destinations;
using Runnel.TestKit;

namespace Runnel.Firehose.Tests;

/// <summary>
/// RedshiftDestinationConfiguration with a <c>jdbc:postgresql://</c> URL, against the test PostgreSQL server: batches are
/// staged as objects and copied into the table, and a staged key is never loaded twice.
/// </summary>
public sealed class PostgresDestinationTests
{
    private static string JdbcUrl(PostgresDatabase db)
    {
        var b = new NpgsqlConnectionStringBuilder(db.ConnectionString);
        return $"jdbc:postgresql://{b.Host}:{b.Port}/{db.Name}";
    }

    private static object Configuration(PostgresDatabase db, string bucket, string table, string? columns, string? copyOptions, string? url = null)
    {
        var b = new NpgsqlConnectionStringBuilder(db.ConnectionString);
        return new
        {
            RoleARN = "arn:aws:iam::000000000000:role/firehose",
            ClusterJDBCURL = url ?? JdbcUrl(db),
            CopyCommand = new { DataTableName = table, DataTableColumns = columns, CopyOptions = copyOptions },
            Username = b.Username,
            Password = b.Password,
            S3Configuration = new
            {
                RoleARN = "arn:aws:iam::000000000000:role/firehose",
                BucketARN = $"arn:aws:s3:::{bucket}",
                Prefix = "staging/",
                BufferingHints = new { SizeInMBs = 1, IntervalInSeconds = 1 },
            },
        };
    }

    private static async Task ExecuteAsync(PostgresDatabase db, string sql)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    private static async Task<List<string>> RowsAsync(PostgresDatabase db, string sql)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var rows = new List<string>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
            rows.Add(string.Join("|", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "NULL" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        return rows;
    }

    [Fact]
    public async Task Json_records_are_staged_and_copied_into_the_table_by_column_name()
    {
        await using var db = await PostgresDatabase.CreateAsync("fh_pg", TestContext.Current.CancellationToken);
        await ExecuteAsync(db, "CREATE TABLE clicks (id int PRIMARY KEY, page text, amount numeric, seen timestamptz, extra text)");
        using var data = new TempDirectory("firehose-pg");
        var pgHost = new NpgsqlConnectionStringBuilder(db.ConnectionString).Host!;
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: false, $"--Firehose:AllowedHosts:0={pgHost}");
        var hose = FirehoseHost.NewName("pg");
        var bucket = FirehoseHost.NewBucket();

        var refused = await host.CallAsync("Firehose_20150804.CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            RedshiftDestinationConfiguration = Configuration(db, bucket, "clicks", null, "JSON 'auto'", url: "jdbc:redshift://example.com:5439/dev"),
        });
        Assert.Equal((400, "InvalidArgumentException"), (refused.Status, refused.ErrorType));

        await host.FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            RedshiftDestinationConfiguration = Configuration(db, bucket, "clicks", "id,page,amount,seen", "JSON 'auto'"),
        });
        var described = await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = hose });
        var redshift = described.GetProperty("DeliveryStreamDescription").GetProperty("Destinations")[0].GetProperty("RedshiftDestinationDescription");
        Assert.Equal(JdbcUrl(db), redshift.GetProperty("ClusterJDBCURL").GetString());
        Assert.Equal("clicks", redshift.GetProperty("CopyCommand").GetProperty("DataTableName").GetString());
        Assert.False(redshift.TryGetProperty("Password", out _));
        Assert.Equal($"arn:aws:s3:::{bucket}", redshift.GetProperty("S3DestinationDescription").GetProperty("BucketARN").GetString());

        var records = Enumerable.Range(1, 25)
            .Select(i => $"{{\"id\":{i},\"page\":\"/p{i}\",\"amount\":{i}.5,\"seen\":\"2026-12-01T10:00:{i:00}Z\",\"ignored\":true}}\n")
            .ToList();
        var answer = await host.FirehoseAsync("PutRecordBatch", new { DeliveryStreamName = hose, Records = records.Select(r => new { Data = Encoding.UTF8.GetBytes(r) }).ToArray() });
        Assert.Equal(0, answer.GetProperty("FailedPutCount").GetInt32());

        await Wait.UntilAsync(async () => (await RowsAsync(db, "SELECT count(*) FROM clicks"))[0] == "25", TimeSpan.FromSeconds(90),
            "25 rows in clicks", TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
        var rows = await RowsAsync(db, "SELECT id, page, amount, to_char(seen AT TIME ZONE 'UTC', 'HH24:MI:SS'), extra FROM clicks ORDER BY id");
        Assert.Equal(Enumerable.Range(1, 25).Select(i => $"{i}|/p{i}|{i}.5|10:00:{i:00}|NULL"), rows);

        // The staged object holds the records as they arrived, and its key is recorded as loaded.
        var staged = await host.Buckets.KeysAsync(bucket);
        Assert.All(staged, k => Assert.StartsWith("staging/", k, StringComparison.Ordinal));
        var stagedLines = (await Task.WhenAll(staged.Select(k => host.Buckets.ReadAsync(bucket, k))))
            .SelectMany(o => Encoding.UTF8.GetString(o).Split('\n', StringSplitOptions.RemoveEmptyEntries)).Order(StringComparer.Ordinal);
        Assert.Equal(records.Select(r => r.TrimEnd('\n')).Order(StringComparer.Ordinal), stagedLines);
        Assert.Equal(staged, await RowsAsync(db, $"SELECT object_key FROM {PostgresLoader.LoadsTable} ORDER BY object_key"));
    }

    [Fact]
    public async Task A_restart_between_load_and_checkpoint_replays_the_batch_without_loading_it_twice()
    {
        await using var db = await PostgresDatabase.CreateAsync("fh_pg_restart", TestContext.Current.CancellationToken);
        await ExecuteAsync(db, "CREATE TABLE lines (word text, n int4)");
        using var data = new TempDirectory("firehose-pg-restart");
        var allow = $"--Firehose:AllowedHosts:0={new NpgsqlConnectionStringBuilder(db.ConnectionString).Host}";
        var hose = FirehoseHost.NewName("pgrestart");
        var bucket = FirehoseHost.NewBucket();
        await using (var first = await FirehoseHost.StartAsync(data.Path, s3: false, allow))
        {
            await first.FirehoseAsync("CreateDeliveryStream", new
            {
                DeliveryStreamName = hose,
                RedshiftDestinationConfiguration = Configuration(db, bucket, "lines", null, "CSV"),
            });
            await first.FirehoseAsync("PutRecordBatch", new { DeliveryStreamName = hose, Records = new[] { "a,1\n", "b,2\n", "c,3\n" }.Select(r => new { Data = Encoding.UTF8.GetBytes(r) }).ToArray() });
            await RestartTests.WaitForCheckpointAsync(first.Services, hose, c => c is not null && !c.Contains('|'));
        }
        Assert.Equal(["a|1", "b|2", "c|3"], await RowsAsync(db, "SELECT word, n FROM lines ORDER BY word"));

        // What a crash after the load committed but before the checkpoint moved leaves: records 0..2 being written.
        await RestartTests.SetCheckpointAsync(data.Path, hose, $"|{new Runnel.Core.Streams.SequenceNumber(0, 0)}..{new Runnel.Core.Streams.SequenceNumber(0, 2)}");
        await using var second = await FirehoseHost.StartAsync(data.Path, s3: false, allow);
        await RestartTests.WaitForCheckpointAsync(second.Services, hose, c => c == new Runnel.Core.Streams.SequenceNumber(0, 2).ToString());
        Assert.Equal(["a|1", "b|2", "c|3"], await RowsAsync(db, "SELECT word, n FROM lines ORDER BY word"));

        // Delivery goes on after the replay.
        await second.FirehoseAsync("PutRecord", new { DeliveryStreamName = hose, Record = new { Data = Encoding.UTF8.GetBytes("d,4\n") } });
        await Wait.UntilAsync(async () => (await RowsAsync(db, "SELECT count(*) FROM lines"))[0] == "4", TimeSpan.FromSeconds(90),
            "the fourth row", TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
        Assert.Equal(["a|1", "b|2", "c|3", "d|4"], await RowsAsync(db, "SELECT word, n FROM lines ORDER BY word"));
        Assert.Equal(2, (await RowsAsync(db, $"SELECT object_key FROM {PostgresLoader.LoadsTable}")).Count);
    }

    [Fact]
    public async Task A_host_not_on_the_allow_list_is_refused()
    {
        await using var db = await PostgresDatabase.CreateAsync("fh_pg_refused", TestContext.Current.CancellationToken);
        using var data = new TempDirectory("firehose-pg");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: false);
        var reply = await host.CallAsync("Firehose_20150804.CreateDeliveryStream", new
        {
            DeliveryStreamName = FirehoseHost.NewName("pg"),
            RedshiftDestinationConfiguration = Configuration(db, FirehoseHost.NewBucket(), "t", null, null),
        });
        Assert.Equal((400, "InvalidArgumentException"), (reply.Status, reply.ErrorType));
        Assert.Contains("Firehose:AllowedHosts", reply.Body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Loading_the_same_staged_key_again_loads_no_row_twice()
    {
        await using var db = await PostgresDatabase.CreateAsync("fh_pg_redrive", TestContext.Current.CancellationToken);
        await ExecuteAsync(db, "CREATE TABLE events (name text, n int8, ok bool)");
        var b = new NpgsqlConnectionStringBuilder(db.ConnectionString);
        var destination = new PostgresDestination
        {
            RoleArn = "arn:aws:iam::000000000000:role/firehose",
            JdbcUrl = JdbcUrl(db),
            Username = b.Username!,
            Password = b.Password!,
            Table = "public.events",
            CopyOptions = "CSV",
        };
        var content = Encoding.UTF8.GetBytes("\"a, quoted\",1,true\nb,2,false\r\nc,,t\n");

        // The first load commits; the replay after a crash before the checkpoint moved re-drives the same key.
        Assert.Equal(3, await PostgresLoader.LoadAsync(destination, "hose", "staging/hose-1-key-a", content, TestContext.Current.CancellationToken));
        Assert.Null(await PostgresLoader.LoadAsync(destination, "hose", "staging/hose-1-key-a", content, TestContext.Current.CancellationToken));
        // Two loads of one key at once: the key's row lock lets exactly one through.
        var both = await Task.WhenAll(
            PostgresLoader.LoadAsync(destination, "hose", "staging/hose-1-key-b", content, TestContext.Current.CancellationToken),
            PostgresLoader.LoadAsync(destination, "hose", "staging/hose-1-key-b", content, TestContext.Current.CancellationToken));
        Assert.Equal([3], both.Where(r => r is not null).Select(r => r!.Value));

        var rows = await RowsAsync(db, "SELECT name, n, ok FROM events ORDER BY name, n");
        Assert.Equal(["a, quoted|1|True", "a, quoted|1|True", "b|2|False", "b|2|False", "c|NULL|True", "c|NULL|True"], rows);
        Assert.Equal(["staging/hose-1-key-a|3", "staging/hose-1-key-b|3"], await RowsAsync(db, $"SELECT object_key, row_count FROM {PostgresLoader.LoadsTable} ORDER BY object_key"));
    }
}
