using Runnel.Analytics.Sql;

namespace Runnel.Analytics.Tests;

/// <summary>
/// Flink-style group windows (TUMBLE, HOP, SESSION), declared watermarks with allowed lateness, DISTINCT aggregates
/// and AWS's tumbling table functions, on the dialect alone.
/// </summary>
public sealed class EventTimeWindowTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private const string Source = "SOURCE_SQL_STREAM_001";

    private static StreamSchema Trucks() => new(Source,
    [
        new SqlColumn("TRUCK_ID", SqlKind.Varchar, "VARCHAR(8)"),
        new SqlColumn("EVENT_TIME", SqlKind.Timestamp, "TIMESTAMP"),
        new SqlColumn("SPEED", SqlKind.Double, "DOUBLE"),
    ], isSource: true);

    private static object?[] Truck(string id, double seconds, double speed = 50) => [T0, T0, id, T0.AddSeconds(seconds), speed];

    private sealed class Run
    {
        public SqlProgram Program { get; }
        public List<object?[]> Rows { get; } = [];
        public List<object?[]> Errors { get; } = [];

        public Run(string code, StreamSchema? source = null, int lanes = 1)
        {
            Program = SqlProgram.Compile(code, [source ?? Trucks()]);
            Program.Emitted = (stream, row) =>
            {
                if (stream == ErrorStream.Name)
                    Errors.Add(row);
                else if (stream is "OUT" or "DESTINATION_SQL_STREAM")
                    Rows.Add(row);
            };
            Program.SetLanes(Source, Enumerable.Range(0, lanes));
        }

        public void Put(params object?[][] rows)
        {
            foreach (var row in rows)
                Program.Insert(Source, 0, row);
        }

        /// <summary>The emitted rows without ROWTIME, as text.</summary>
        public List<string> Text => [.. Rows.Select(r => string.Join('|', r.Skip(1).Select(v => v is DateTime t ? Values.FormatTimestamp(t)[11..19] : v)))];
    }

    private const string Tumble = """
        ALTER STREAM "SOURCE_SQL_STREAM_001" ADD WATERMARK FOR event_time AS event_time - INTERVAL '10' SECOND;
        CREATE OR REPLACE STREAM "OUT" (truck_id VARCHAR(8), window_start TIMESTAMP, window_end TIMESTAMP, events BIGINT, top_speed DOUBLE);
        CREATE OR REPLACE PUMP "P" AS INSERT INTO "OUT"
          SELECT STREAM truck_id, TUMBLE_START(event_time, INTERVAL '1' MINUTE), TUMBLE_END(event_time, INTERVAL '1' MINUTE), COUNT(*), MAX(speed)
          FROM "SOURCE_SQL_STREAM_001"
          GROUP BY truck_id, TUMBLE(event_time, INTERVAL '1' MINUTE);
        """;

    [Fact]
    public void A_TUMBLE_window_fires_when_the_watermark_minus_the_delay_passes_its_end_and_reports_its_bounds()
    {
        var run = new Run(Tumble);
        run.Put(Truck("t1", 10, 40), Truck("t2", 30, 70), Truck("t1", 65, 55));
        // The watermark is 65 - 10 = 55 s: minute 0 is still open, and a row of it within the delay still counts.
        Assert.Empty(run.Rows);
        run.Put(Truck("t1", 50, 90), Truck("t1", 70, 60));
        Assert.Equal(["t1|00:00:00|00:01:00|2|90", "t2|00:00:00|00:01:00|1|70"], run.Text);
        Assert.All(run.Rows, r => Assert.Equal(T0.AddMinutes(1), r[0]));

        // No allowed lateness: a row of the fired minute is LATE_ROW and changes nothing.
        run.Put(Truck("t2", 59, 99));
        Assert.Equal(2, run.Rows.Count);
        var late = Assert.Single(run.Errors);
        Assert.Equal(ErrorStream.LateRow, late[3]);
        Assert.Contains("[2026-01-01 00:00:00.000, 2026-01-01 00:01:00.000)", (string)late[4]!, StringComparison.Ordinal);
        Assert.Equal(1, run.Program.LateRows);
    }

    private const string Lateness = """
        ALTER STREAM "SOURCE_SQL_STREAM_001" ADD WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND ALLOWED LATENESS INTERVAL '30' SECOND;
        CREATE OR REPLACE STREAM "OUT" (truck_id VARCHAR(8), minute_start TIMESTAMP, events BIGINT);
        CREATE OR REPLACE PUMP "P" AS INSERT INTO "OUT"
          SELECT STREAM truck_id, FLOOR(event_time TO MINUTE), COUNT(*)
          FROM "SOURCE_SQL_STREAM_001"
          GROUP BY truck_id, FLOOR(event_time TO MINUTE);
        """;

    [Theory]
    [InlineData(Lateness)]
    [InlineData("""
        CREATE OR REPLACE STREAM "OUT" (truck_id VARCHAR(8), minute_start TIMESTAMP, events BIGINT);
        ALTER STREAM "SOURCE_SQL_STREAM_001" ADD WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND ALLOWED LATENESS INTERVAL '30' SECOND;
        CREATE OR REPLACE PUMP "P" AS INSERT INTO "OUT"
          SELECT STREAM truck_id, TUMBLE_START(event_time, INTERVAL '60' SECOND), COUNT(*)
          FROM "SOURCE_SQL_STREAM_001"
          GROUP BY TUMBLE(event_time, INTERVAL '60' SECOND), truck_id;
        """)]
    public void Late_rows_within_allowed_lateness_update_their_window_and_later_ones_reach_error_stream(string code)
    {
        var run = new Run(code);
        run.Put(Truck("t1", 10), Truck("t1", 20), Truck("t1", 66));
        Assert.Equal(["t1|00:00:00|2"], run.Text);

        // Watermark 61 s: minute 0 fired but is kept until 60 + 30 s. A row of it emits the group's updated row.
        run.Put(Truck("t1", 30));
        Assert.Equal(["t1|00:00:00|2", "t1|00:00:00|3"], run.Text);
        // A key the fired window did not have yet gets its own row.
        run.Put(Truck("t2", 40));
        Assert.Equal("t2|00:00:00|1", run.Text[^1]);
        Assert.Empty(run.Errors);

        // Watermark 95 s passes 60 + 30: minute 0 is dropped, and a row for it is late.
        run.Put(Truck("t1", 100), Truck("t1", 45));
        Assert.Equal(3, run.Rows.Count);
        var late = Assert.Single(run.Errors);
        Assert.Equal(ErrorStream.LateRow, late[3]);
        Assert.Contains("allowed lateness of 30 s", (string)late[4]!, StringComparison.Ordinal);
    }

    [Fact]
    public void A_HOP_window_puts_each_row_in_every_window_that_holds_it()
    {
        var run = new Run("""
            ALTER STREAM "SOURCE_SQL_STREAM_001" ADD WATERMARK FOR event_time AS event_time;
            CREATE OR REPLACE STREAM "OUT" (hop_start TIMESTAMP, hop_end TIMESTAMP, events BIGINT, total DOUBLE);
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "OUT"
              SELECT STREAM HOP_START(event_time, INTERVAL '30' SECOND, INTERVAL '1' MINUTE), HOP_END(event_time, INTERVAL '30' SECOND, INTERVAL '1' MINUTE),
                COUNT(*), SUM(speed)
              FROM "SOURCE_SQL_STREAM_001"
              GROUP BY HOP(event_time, INTERVAL '30' SECOND, INTERVAL '1' MINUTE);
            """);
        run.Put(Truck("a", 10, 1), Truck("a", 40, 2), Truck("a", 70, 4), Truck("a", 150, 8));
        // Windows [-30, 30) is before the epoch of the test's times only in name: T0 is far from 0, so it exists.
        Assert.Equal(
        [
            "23:59:30|00:00:30|1|1",
            "00:00:00|00:01:00|2|3",
            "00:00:30|00:01:30|2|6",
            "00:01:00|00:02:00|1|4",
        ], run.Text);
    }

    private const string Sessions = """
        CREATE OR REPLACE STREAM "OUT" (truck_id VARCHAR(8), session_start TIMESTAMP, session_end TIMESTAMP, events BIGINT, average DOUBLE);
        CREATE OR REPLACE PUMP "P" AS INSERT INTO "OUT"
          SELECT STREAM truck_id, SESSION_START(event_time, INTERVAL '30' SECOND), SESSION_END(event_time, INTERVAL '30' SECOND), COUNT(*), AVG(speed)
          FROM "SOURCE_SQL_STREAM_001"
          GROUP BY truck_id, SESSION(event_time, INTERVAL '30' SECOND);
        """;

    [Fact]
    public void SESSION_windows_merge_on_the_gap_per_key_and_fire_when_the_watermark_passes_their_end()
    {
        var run = new Run("""ALTER STREAM "SOURCE_SQL_STREAM_001" ADD WATERMARK FOR event_time AS event_time - INTERVAL '30' SECOND;""" + Sessions);
        // Watermark = latest time - 30 s. t1: [0, 30) and [50, 80) apart, then a row at 28 s meets both: one session [0, 80).
        run.Put(Truck("t1", 0, 10), Truck("t1", 50, 20), Truck("t2", 5, 100), Truck("t1", 28, 30));
        Assert.Empty(run.Rows);
        run.Put(Truck("t3", 79));
        // Watermark 49 s: t2's [5, 35) fires.
        Assert.Equal(["t2|00:00:05|00:00:35|1|100"], run.Text);
        run.Put(Truck("t3", 200));
        // Watermark 170 s: t1's [0, 80) and t3's [79, 109) fire, in the order of their ends.
        Assert.Equal(["t2|00:00:05|00:00:35|1|100", "t1|00:00:00|00:01:20|3|20", "t3|00:01:19|00:01:49|1|50"], run.Text);
        // A row whose session [100, 130) would end before the watermark (no lateness) is late.
        run.Put(Truck("t1", 100));
        Assert.Single(run.Errors);
    }

    [Fact]
    public void Saved_state_with_kept_and_open_windows_resumes_to_the_same_rows_as_an_uninterrupted_run()
    {
        var code = Lateness.Replace("FLOOR(event_time TO MINUTE)", "TUMBLE(event_time, INTERVAL '1' MINUTE)", StringComparison.Ordinal)
            .Replace("SELECT STREAM truck_id, TUMBLE(", "SELECT STREAM truck_id, TUMBLE_START(", StringComparison.Ordinal)
            .Replace("COUNT(*)", "COUNT(DISTINCT speed)", StringComparison.Ordinal);
        var session = Sessions.Replace("CREATE OR REPLACE STREAM", """ALTER STREAM "SOURCE_SQL_STREAM_001" ADD WATERMARK FOR event_time AS event_time - INTERVAL '20' SECOND ALLOWED LATENESS INTERVAL '40' SECOND; CREATE OR REPLACE STREAM""", StringComparison.Ordinal);
        // Sessions need sparser rows to end and rows further back to be late.
        foreach (var (program, step, back) in new[] { (code, 2, 90), (session, 7, 200) })
        {
            var random = new Random(11);
            // Times mostly rising, some far back: rows in order, within the delay, within lateness and too late.
            var rows = Enumerable.Range(0, 1500)
                .Select(i => Truck($"t{random.Next(6)}", Math.Max(0, i * step - (random.Next(10) == 0 ? random.Next(back) : 0)), random.Next(20)))
                .ToList();
            var whole = new Run(program);
            whole.Put([.. rows]);

            var first = new Run(program);
            first.Put([.. rows.Take(777)]);
            var second = new Run(program);
            second.Program.RestoreState(first.Program.SaveState());
            second.Put([.. rows.Skip(777)]);

            Assert.True(whole.Errors.Count > 10 && whole.Rows.Count > 50, $"{whole.Errors.Count} late, {whole.Rows.Count} rows");
            Assert.Equal(whole.Text, [.. first.Text, .. second.Text]);
            Assert.Equal(whole.Errors.Count, first.Errors.Count + second.Errors.Count);
        }
    }

    [Fact]
    public void COUNT_DISTINCT_counts_each_value_once_per_window()
    {
        var run = new Run("""
            CREATE OR REPLACE STREAM "OUT" (minute_start TIMESTAMP, trucks BIGINT, speeds DOUBLE);
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "OUT"
              SELECT STREAM FLOOR(event_time TO MINUTE), COUNT(DISTINCT truck_id), SUM(DISTINCT speed)
              FROM "SOURCE_SQL_STREAM_001" GROUP BY FLOOR(event_time TO MINUTE);
            """);
        run.Put(Truck("a", 1, 10), Truck("b", 2, 10), Truck("a", 3, 20), Truck("c", 4, 10), Truck("a", 61, 5));
        Assert.Equal(["00:00:00|3|30"], run.Text);
    }

    private static StreamSchema Tickers(string column = "TICKER") => new(Source, [new SqlColumn(column, SqlKind.Varchar, "VARCHAR(4)")], isSource: true);

    private static object?[] Ticker(double seconds, string ticker) => [T0.AddSeconds(seconds), T0.AddSeconds(seconds), ticker];

    [Fact]
    public void TOP_K_ITEMS_TUMBLING_from_AWS_example_emits_the_k_most_frequent_values_of_each_window()
    {
        var run = new Run(Samples.TopKItems, Tickers());
        var tickers = new[] { "AMZN", "AMZN", "AMZN", "INTC", "INTC", "MSFT", "MSFT", "MSFT", "MSFT", "TBV", "AAPL", "AAPL", "ZZZ" };
        run.Put([.. tickers.Select((t, i) => Ticker(i, t))]);
        Assert.Empty(run.Rows);
        run.Program.AdvanceRowtime(T0.AddMinutes(1));
        // K = 5 of six tickers: the counts in order, ties by value; ZZZ and TBV tie at 1 and TBV comes first.
        Assert.Equal(["MSFT|4", "AMZN|3", "AAPL|2", "INTC|2", "TBV|1"], run.Text);
        Assert.All(run.Rows, r => Assert.Equal(T0.AddMinutes(1), r[0]));
    }

    [Fact]
    public void COUNT_DISTINCT_ITEMS_TUMBLING_counts_the_distinct_values_of_each_window_exactly()
    {
        var run = new Run(Samples.CountDistinctItems, Tickers("TICKER_SYMBOL"));
        run.Put(Ticker(1, "A"), Ticker(2, "B"), Ticker(3, "A"), Ticker(61, "C"), Ticker(62, "C"));
        run.Program.AdvanceRowtime(T0.AddMinutes(2));
        Assert.Equal(["2", "1"], run.Text);
    }

    [Theory]
    [InlineData("SELECT STREAM truck_id FROM SOURCE_SQL_STREAM_001 WHERE TUMBLE(event_time, INTERVAL '1' MINUTE) IS NULL", 2, 88, "belongs in GROUP BY")]
    [InlineData("SELECT STREAM TUMBLE_START(event_time, INTERVAL '1' MINUTE) FROM SOURCE_SQL_STREAM_001 GROUP BY FLOOR(event_time TO MINUTE)", 2, 46, "TUMBLE_START needs GROUP BY TUMBLE(...)")]
    [InlineData("SELECT STREAM HOP_END(event_time, INTERVAL '1' MINUTE, INTERVAL '2' MINUTE) FROM SOURCE_SQL_STREAM_001 GROUP BY HOP(event_time, INTERVAL '1' MINUTE, INTERVAL '3' MINUTE)", 2, 46, "must repeat the GROUP BY window")]
    [InlineData("SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 GROUP BY TUMBLE(speed, INTERVAL '1' MINUTE)", 2, 98, "first argument is a TIMESTAMP column")]
    [InlineData("SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 GROUP BY SESSION(event_time, INTERVAL '0' SECOND)", 2, 111, "positive intervals")]
    [InlineData("SELECT STREAM COUNT(*) FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001)))", 2, 66, "Table function RANDOM_CUT_FOREST is not supported")]
    [InlineData("SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM SOURCE_SQL_STREAM_001), 'PLATE', 3, 60))", 2, 132, "Column PLATE not found in the CURSOR's columns (TRUCK_ID, EVENT_TIME, SPEED)")]
    public void Bad_window_code_is_refused_with_its_position_and_reason(string query, int line, int column, string reason)
    {
        var code = "CREATE STREAM S (a VARCHAR(8));\nCREATE PUMP P AS INSERT INTO S " + query + ";";
        var e = Assert.Throws<SqlException>(() => SqlProgram.Compile(code, [Trucks()]));
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
        Assert.Equal((line, column), (e.Line, e.Column));
    }

    [Theory]
    [InlineData("ALTER STREAM SOURCE_SQL_STREAM_001 ADD WATERMARK FOR speed AS speed;", 1, 54, "not a TIMESTAMP")]
    [InlineData("ALTER STREAM SOURCE_SQL_STREAM_001 ADD WATERMARK FOR event_time AS event_time + INTERVAL '1' SECOND;", 1, 79, "A watermark is EVENT_TIME or EVENT_TIME - INTERVAL")]
    [InlineData("ALTER STREAM NOPE ADD WATERMARK FOR event_time AS event_time;", 1, 14, "Stream NOPE does not exist")]
    [InlineData("CREATE STREAM S (a TIMESTAMP, WATERMARK FOR b AS b);", 1, 45, "Column B not found in stream S")]
    [InlineData("ALTER STREAM SOURCE_SQL_STREAM_001 ADD WATERMARK FOR ROWTIME AS ROWTIME;", 1, 54, "ROWTIME is the arrival time")]
    public void Bad_watermarks_are_refused_with_their_position_and_reason(string code, int line, int column, string reason)
    {
        var e = Assert.Throws<SqlException>(() => SqlProgram.Compile(code, [Trucks()]));
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
        Assert.Equal((line, column), (e.Line, e.Column));
    }

    [Fact]
    public void A_watermark_declared_in_CREATE_STREAM_governs_windows_over_that_in_application_stream()
    {
        var run = new Run("""
            CREATE OR REPLACE STREAM "EVENTS" (truck_id VARCHAR(8), at_time TIMESTAMP,
              WATERMARK FOR at_time AS at_time - INTERVAL '30' SECOND);
            CREATE OR REPLACE STREAM "OUT" (window_end TIMESTAMP, events BIGINT);
            CREATE OR REPLACE PUMP "COPY" AS INSERT INTO "EVENTS" SELECT STREAM truck_id, event_time FROM "SOURCE_SQL_STREAM_001";
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "OUT"
              SELECT STREAM TUMBLE_END(at_time, INTERVAL '1' MINUTE), COUNT(*) FROM "EVENTS" GROUP BY TUMBLE(at_time, INTERVAL '1' MINUTE);
            """);
        run.Put(Truck("a", 10), Truck("a", 70), Truck("a", 50));
        Assert.Empty(run.Rows);
        run.Put(Truck("a", 90));
        Assert.Equal(["00:01:00|2"], run.Text);
    }
}
