using Runnel.Analytics.Sql;

namespace Runnel.Analytics.Tests;

/// <summary>The dialect on its own: compile errors with positions, filters, tumbling windows, watermarks and state.</summary>
public sealed class SqlProgramTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>The getting-started stream of AWS's samples: (TICKER_SYMBOL VARCHAR(4), SECTOR varchar(16), CHANGE REAL, PRICE REAL).</summary>
    private static StreamSchema Tickers() => new("SOURCE_SQL_STREAM_001",
    [
        new SqlColumn("TICKER_SYMBOL", SqlKind.Varchar, "VARCHAR(4)"),
        new SqlColumn("SECTOR", SqlKind.Varchar, "VARCHAR(16)"),
        new SqlColumn("CHANGE", SqlKind.Double, "REAL"),
        new SqlColumn("PRICE", SqlKind.Double, "REAL"),
    ], isSource: true);

    private static object?[] Tick(DateTime rowtime, string ticker, string sector, double change, double price) =>
        [rowtime, rowtime, ticker, sector, change, price];

    private static (SqlProgram Program, List<(string Stream, object?[] Row)> Out) Compile(string code, params StreamSchema[] sources)
    {
        var program = SqlProgram.Compile(code, sources.Length == 0 ? [Tickers()] : sources);
        var output = new List<(string, object?[])>();
        program.Emitted = (s, r) => output.Add((s, r));
        return (program, output);
    }

    [Fact]
    public void The_continuous_filter_sample_passes_only_big_changes()
    {
        var (program, output) = Compile(Samples.ContinuousFilter);
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "AAA", "TECH", 1, 101));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "BBB", "TECH", 20, 100));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "CCC", "RETAIL", -30, 90));

        Assert.Equal([("BBB", 100.0), ("CCC", 90.0)], output.Select(o => ((string)o.Row[1]!, (double)o.Row[2]!)));
        Assert.All(output, o => Assert.Equal("DESTINATION_SQL_STREAM", o.Stream));
    }

    [Fact]
    public void A_STEP_window_over_ROWTIME_emits_each_minute_once_when_time_passes_its_end()
    {
        var (program, output) = Compile(Samples.TumblingMinMax);
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0.AddSeconds(5), "AAA", "TECH", 0, 10));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0.AddSeconds(20), "BBB", "TECH", 0, 7));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0.AddSeconds(50), "AAA", "TECH", 0, 12));
        Assert.Empty(output);

        // The first row of the next minute closes the first.
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0.AddSeconds(61), "AAA", "TECH", 0, 3));
        Assert.Equal(2, output.Count);
        Assert.Equal(["AAA", 10.0, 12.0], output[0].Row[1..]);
        Assert.Equal(["BBB", 7.0, 7.0], output[1].Row[1..]);
        Assert.All(output, o => Assert.Equal(T0.AddMinutes(1), o.Row[0]));

        // With no more rows, time passing (every shard caught up) closes the second.
        program.AdvanceRowtime(T0.AddMinutes(2));
        Assert.Equal(3, output.Count);
        Assert.Equal(["AAA", 3.0, 3.0], output[2].Row[1..]);
        program.AdvanceRowtime(T0.AddMinutes(10));
        Assert.Equal(3, output.Count);
    }

    private static StreamSchema TruckSchema() => new("SOURCE_SQL_STREAM_001",
    [
        new SqlColumn("TRUCK_ID", SqlKind.Varchar, "VARCHAR(8)"),
        new SqlColumn("EVENT_TIME", SqlKind.Timestamp, "TIMESTAMP"),
        new SqlColumn("SPEED", SqlKind.Double, "DOUBLE"),
    ], isSource: true);

    private static object?[] Truck(string id, DateTime at, double speed) => [T0, T0, id, at, speed];

    [Fact]
    public void An_event_time_window_waits_for_every_lane_and_sends_rows_later_than_the_watermark_to_error_stream()
    {
        var (program, _) = Compile(Trucks.Code, TruckSchema());
        var output = new List<(string Stream, object?[] Row)>();
        var errors = new List<object?[]>();
        program.Emitted = (s, r) =>
        {
            if (s == ErrorStream.Name)
                errors.Add(r);
            else
                output.Add((s, r));
        };
        program.SetLanes("SOURCE_SQL_STREAM_001", [0, 1]);
        program.Insert("SOURCE_SQL_STREAM_001", 0, Truck("t1", T0.AddSeconds(10), 50));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Truck("t1", T0.AddSeconds(70), 60));
        // Lane 1 has seen nothing yet: minute 0 stays open although lane 0 is past it.
        Assert.Empty(output);
        program.Insert("SOURCE_SQL_STREAM_001", 1, Truck("t2", T0.AddSeconds(30), 40));
        program.Insert("SOURCE_SQL_STREAM_001", 1, Truck("t2", T0.AddSeconds(65), 42));
        Assert.Equal(2, output.Count);
        Assert.Equal(["t1", T0, 1L, 50.0], output[0].Row[1..]);
        Assert.Equal(["t2", T0, 1L, 40.0], output[1].Row[1..]);

        // Minute 0 has closed: a row for it is late, changes nothing and is reported in error_stream.
        program.Insert("SOURCE_SQL_STREAM_001", 1, Truck("t2", T0.AddSeconds(59), 99));
        Assert.Equal(1, program.LateRows);
        var late = Assert.Single(errors);
        Assert.Equal([ErrorStream.Level, ErrorStream.LateRow], late[2..4]);
        Assert.Contains("[2026-01-01 00:00:00.000, 2026-01-01 00:01:00.000)", (string)late[4]!, StringComparison.Ordinal);
        Assert.Equal(T0, late[5]);
        Assert.Equal("t2," + Values.FormatTimestamp(T0.AddSeconds(59)) + ",99", System.Text.Encoding.UTF8.GetString(Convert.FromHexString((string)late[6]!)));
        Assert.Equal("MINUTES_PUMP", late[7]);
        program.Insert("SOURCE_SQL_STREAM_001", 0, Truck("t1", T0.AddSeconds(130), 70));
        program.Insert("SOURCE_SQL_STREAM_001", 1, Truck("t2", T0.AddSeconds(125), 70));
        Assert.Equal(4, output.Count);
        Assert.Equal(["t1", T0.AddMinutes(1), 1L, 60.0], output[2].Row[1..]);
        Assert.Equal(["t2", T0.AddMinutes(1), 1L, 42.0], output[3].Row[1..]);
    }

    [Fact]
    public void Saved_window_state_resumes_to_the_same_results_as_an_uninterrupted_run()
    {
        var random = new Random(7);
        var rows = Enumerable.Range(0, 2000)
            .Select(i => (Lane: i % 2, Row: Truck($"t{random.Next(10)}", T0.AddMilliseconds(i * 250), Math.Round(random.NextDouble() * 100, 2))))
            .ToList();

        var (whole, expected) = Compile(Trucks.Code, TruckSchema());
        whole.SetLanes("SOURCE_SQL_STREAM_001", [0, 1]);
        foreach (var (lane, row) in rows)
            whole.Insert("SOURCE_SQL_STREAM_001", lane, row);

        var (first, actual) = Compile(Trucks.Code, TruckSchema());
        first.SetLanes("SOURCE_SQL_STREAM_001", [0, 1]);
        foreach (var (lane, row) in rows.Take(1111))
            first.Insert("SOURCE_SQL_STREAM_001", lane, row);
        var state = first.SaveState();
        var (second, rest) = Compile(Trucks.Code, TruckSchema());
        second.RestoreState(state);
        foreach (var (lane, row) in rows.Skip(1111))
            second.Insert("SOURCE_SQL_STREAM_001", lane, row);
        actual.AddRange(rest);

        Assert.True(expected.Count > 40, $"only {expected.Count} windows closed");
        Assert.Equal(expected.Select(e => string.Join('|', e.Row)), actual.Select(a => string.Join('|', a.Row)));
    }

    [Fact]
    public void Scalar_functions_cast_case_like_and_insert_column_lists_evaluate_per_row()
    {
        const string code = """
            CREATE OR REPLACE STREAM OUT_STREAM (label VARCHAR(32), bucket INTEGER, note VARCHAR(8));
            CREATE OR REPLACE PUMP P AS INSERT INTO OUT_STREAM (note, label, bucket)
              SELECT STREAM CASE WHEN price >= 100 THEN 'high' ELSE 'low' END,
                            LOWER(ticker_symbol) || '-' || SUBSTRING(sector, 1, 2),
                            CAST(FLOOR(price / 10) AS INTEGER)
              FROM SOURCE_SQL_STREAM_001 AS s
              WHERE s.sector LIKE 'TE%' AND price BETWEEN 10 AND 1000 AND ticker_symbol IN ('AAA', 'BBB');
            """;
        var (program, output) = Compile(code);
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "AAA", "TECH", 0, 123.5));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "BBB", "RETAIL", 0, 50));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "CCC", "TECH", 0, 50));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "BBB", "TELCO", 0, 42));

        Assert.Equal(2, output.Count);
        Assert.Equal(["aaa-TE", 12L, "high"], output[0].Row[1..]);
        Assert.Equal(["bbb-TE", 4L, "low"], output[1].Row[1..]);
    }

    [Theory]
    [InlineData("CREATE OR REPLACE STREAM S (a INTEGER);\nCREATE OR REPLACE PUMP P AS INSERT INTO S\n  SELECT STREAM nope FROM SOURCE_SQL_STREAM_001;", 3, 17, "Column NOPE not found")]
    [InlineData("CREATE OR REPLACE STREAM S (a INTEGER);\nCREATE OR REPLACE PUMP P AS INSERT INTO S SELECT STREAM price FROM SOURCE_SQL_STREAM_002;", 2, 68, "Stream SOURCE_SQL_STREAM_002 does not exist")]
    [InlineData("CREATE OR REPLACE STREAM S (a INTEGER)\nCREATE OR REPLACE PUMP P AS INSERT INTO S SELECT STREAM price FROM SOURCE_SQL_STREAM_001;", 2, 1, "Expected ';'")]
    [InlineData("CREATE STREAM S (a INTEGER);\nCREATE PUMP P AS INSERT INTO S SELECT STREAM price, sector FROM SOURCE_SQL_STREAM_001;", 2, 32, "selects 2 columns but S takes 1")]
    [InlineData("CREATE STREAM S (a INTEGER);\nCREATE PUMP P AS INSERT INTO S SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001 GROUP BY sector;", 2, 32, "needs a window")]
    [InlineData("CREATE STREAM S (a VARCHAR(4), b INTEGER);\nCREATE PUMP P AS INSERT INTO S SELECT STREAM ticker_symbol, COUNT(*) FROM SOURCE_SQL_STREAM_001\n GROUP BY sector, STEP(ROWTIME BY INTERVAL '1' MINUTE);", 2, 46, "must appear in GROUP BY")]
    [InlineData("CREATE STREAM S (a INTEGER);\nCREATE PUMP P AS INSERT INTO S SELECT STREAM NOSUCH(price) FROM SOURCE_SQL_STREAM_001;", 2, 46, "Unknown function NOSUCH")]
    [InlineData("CREATE STREAM S (a VARCHAR(4));\nCREATE PUMP P AS INSERT INTO S SELECT STREAM 'x FROM SOURCE_SQL_STREAM_001;", 2, 46, "Unterminated string")]
    [InlineData("CREATE STREAM S (a BLOB);", 1, 20, "Unknown type BLOB")]
    [InlineData("CREATE STREAM \"error_stream\" (a INTEGER);", 1, 1, "is the application's error stream")]
    [InlineData("CREATE STREAM S (a VARCHAR(64));\nCREATE PUMP P AS INSERT INTO S SELECT STREAM MESSAGE FROM \"error_stream\";", 2, 59, "cannot be read by the application's code")]
    [InlineData("CREATE PUMP P AS INSERT INTO \"error_stream\" SELECT STREAM * FROM SOURCE_SQL_STREAM_001;", 1, 30, "Pumps cannot write to error_stream")]
    [InlineData("CREATE STREAM S (a DOUBLE);\nCREATE PUMP P AS INSERT INTO S SELECT STREAM AVG(price) OVER W2 FROM SOURCE_SQL_STREAM_001\n WINDOW W1 AS (RANGE INTERVAL '1' MINUTE PRECEDING);", 2, 57, "Window W2 is not defined")]
    [InlineData("CREATE STREAM S (a DOUBLE, b DOUBLE);\nCREATE PUMP P AS INSERT INTO S SELECT STREAM AVG(price) OVER W1, MAX(price) FROM SOURCE_SQL_STREAM_001\n WINDOW W1 AS (ROWS 2 PRECEDING);", 2, 66, "MAX needs OVER a window")]
    [InlineData("CREATE STREAM S (a DOUBLE);\nCREATE PUMP P AS INSERT INTO S SELECT STREAM AVG(price) OVER (PARTITION BY sector ROWS 2) FROM SOURCE_SQL_STREAM_001;", 2, 89, "Expected PRECEDING")]
    [InlineData("CREATE STREAM S (a VARCHAR(4), b INTEGER);\nCREATE PUMP P AS INSERT INTO S SELECT STREAM ticker_symbol, COUNT(*) FROM SOURCE_SQL_STREAM_001\n WINDOWED BY STAGGER (PARTITION BY sector RANGE INTERVAL '1' MINUTE);", 2, 46, "must appear in the stagger window's PARTITION BY")]
    [InlineData("CREATE STREAM S (b INTEGER);\nCREATE PUMP P AS INSERT INTO S SELECT STREAM COUNT(*) FROM SOURCE_SQL_STREAM_001\n WINDOWED BY STAGGER (PARTITION BY sector ROWS 2);", 3, 43, "Expected RANGE INTERVAL")]
    public void Bad_code_is_refused_with_its_line_column_and_reason(string code, int line, int column, string reason)
    {
        var e = Assert.Throws<SqlException>(() => SqlProgram.Compile(code, [Tickers()]));
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
        Assert.Equal((line, column), (e.Line, e.Column));
    }

    private static List<(DateTime Time, string Ticker, double Price)> TickerRun(int count, int seed)
    {
        var random = new Random(seed);
        var time = T0;
        var rows = new List<(DateTime, string, double)>();
        for (var i = 0; i < count; i++)
        {
            // Steps of 0 to 9 s, so rows share ROWTIMEs and land exactly a minute after others.
            time = time.AddSeconds(random.Next(10));
            rows.Add((time, $"T{random.Next(4)}", random.Next(1, 500) / 4.0));
        }
        return rows;
    }

    [Fact]
    public void The_sliding_window_sample_emits_per_row_min_max_and_avg_of_the_tickers_last_minute()
    {
        var rows = TickerRun(400, 11);
        var (program, output) = Compile(Samples.SlidingMinMaxAvg);
        foreach (var (time, ticker, price) in rows)
            program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(time, ticker, "TECH", 0, price));

        // The reference: for each row, the same ticker's rows up to it whose ROWTIME is less than a minute older.
        var expected = rows.Select((r, i) =>
        {
            var window = rows.Take(i + 1).Where(o => o.Ticker == r.Ticker && o.Time > r.Time.AddMinutes(-1)).Select(o => o.Price).ToList();
            return $"{r.Time:O}|{r.Ticker}|{window.Min()}|{window.Max()}|{window.Average()}";
        });
        Assert.Equal(expected, output.Select(o => $"{(DateTime)o.Row[0]!:O}|{o.Row[1]}|{o.Row[2]}|{o.Row[3]}|{o.Row[4]}"));
    }

    [Fact]
    public void A_row_exactly_the_range_older_has_left_the_sliding_window()
    {
        var (program, output) = Compile(Samples.SlidingMinMaxAvg);
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "AAA", "TECH", 0, 10));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0.AddSeconds(30), "AAA", "TECH", 0, 20));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0.AddSeconds(30), "BBB", "TECH", 0, 99));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0.AddSeconds(60), "AAA", "TECH", 0, 30));

        Assert.Equal(4, output.Count);
        Assert.Equal(["AAA", 10.0, 10.0, 10.0], output[0].Row[1..]);
        Assert.Equal(["AAA", 10.0, 20.0, 15.0], output[1].Row[1..]);
        Assert.Equal(["BBB", 99.0, 99.0, 99.0], output[2].Row[1..]);
        Assert.Equal(["AAA", 20.0, 30.0, 25.0], output[3].Row[1..]);
        Assert.Equal(T0.AddSeconds(60), output[3].Row[0]);
    }

    [Fact]
    public void The_rows_sample_averages_the_current_row_and_the_n_before_it_per_ticker()
    {
        var rows = TickerRun(300, 12);
        var (program, output) = Compile(Samples.SlidingRows);
        foreach (var (time, ticker, price) in rows)
            program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(time, ticker, "TECH", 0, price));

        string Average(int i, int preceding)
        {
            var same = rows.Take(i + 1).Where(o => o.Ticker == rows[i].Ticker).ToList();
            return same.Skip(Math.Max(0, same.Count - preceding - 1)).Average(o => o.Price).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        var expected = rows.Select((r, i) => $"{r.Ticker}|{r.Price}|{Average(i, 2)}|{Average(i, 10)}");
        Assert.Equal(expected, output.Select(o => string.Join('|', o.Row[1..].Select(v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)))));
    }

    [Fact]
    public void Saved_sliding_window_state_resumes_to_the_same_rows_as_an_uninterrupted_run()
    {
        var rows = TickerRun(500, 13);
        const string code = """
            CREATE OR REPLACE STREAM OUT_STREAM (ticker VARCHAR(4), n INTEGER, total DOUBLE, last3 DOUBLE);
            CREATE OR REPLACE PUMP P AS INSERT INTO OUT_STREAM
              SELECT STREAM ticker_symbol, COUNT(*) OVER W, SUM(price) OVER W,
                            MAX(price) OVER (PARTITION BY ticker_symbol ROWS 3 PRECEDING)
              FROM SOURCE_SQL_STREAM_001
              WINDOW W AS (PARTITION BY ticker_symbol RANGE INTERVAL '45' SECOND PRECEDING);
            """;
        var (whole, expected) = Compile(code);
        foreach (var (time, ticker, price) in rows)
            whole.Insert("SOURCE_SQL_STREAM_001", 0, Tick(time, ticker, "TECH", 0, price));

        var (first, actual) = Compile(code);
        foreach (var (time, ticker, price) in rows.Take(237))
            first.Insert("SOURCE_SQL_STREAM_001", 0, Tick(time, ticker, "TECH", 0, price));
        var (second, rest) = Compile(code);
        second.RestoreState(first.SaveState());
        foreach (var (time, ticker, price) in rows.Skip(237))
            second.Insert("SOURCE_SQL_STREAM_001", 0, Tick(time, ticker, "TECH", 0, price));
        actual.AddRange(rest);

        Assert.Equal(500, expected.Count);
        Assert.Contains(expected, e => (long)e.Row[2]! > 3);
        Assert.Equal(expected.Select(e => string.Join('|', e.Row)), actual.Select(a => string.Join('|', a.Row)));
    }

    private static StreamSchema StaggerSource(bool conceptPage) => new("SOURCE_SQL_STREAM_001",
    [
        new SqlColumn(conceptPage ? "TICKER_SYMBOL" : "TICKER", SqlKind.Varchar, "VARCHAR(4)"),
        new SqlColumn("EVENT_TIME", SqlKind.Timestamp, "TIMESTAMP"),
    ], isSource: true);

    private static object?[] Event(string rowtime, string eventTime, string ticker)
    {
        var r = Values.ParseTimestamp(rowtime)!.Value;
        return [r, r, ticker, Values.ParseTimestamp(eventTime)!.Value];
    }

    [Fact]
    public void The_stagger_concept_sample_gives_the_documented_two_rows()
    {
        var (program, output) = Compile(Samples.StaggerByMinute, StaggerSource(conceptPage: true));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Event("2026-01-01 11:00:20", "2026-01-01 11:00:10", "AMZN"));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Event("2026-01-01 11:00:30", "2026-01-01 11:00:20", "AMZN"));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Event("2026-01-01 11:01:05", "2026-01-01 11:00:55", "AMZN"));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Event("2026-01-01 11:01:15", "2026-01-01 11:01:05", "AMZN"));
        Assert.Empty(output);

        program.AdvanceRowtime(T0.AddHours(11).AddSeconds(80));
        var first = Assert.Single(output);
        Assert.Equal([T0.AddHours(11).AddSeconds(80), "AMZN", T0.AddHours(11), 3.0], first.Row);

        program.AdvanceRowtime(T0.AddHours(11).AddSeconds(134));
        Assert.Single(output);
        program.AdvanceRowtime(T0.AddHours(11).AddSeconds(135));
        Assert.Equal(2, output.Count);
        Assert.Equal([T0.AddHours(11).AddSeconds(135), "AMZN", T0.AddHours(11).AddMinutes(1), 1.0], output[1].Row);
    }

    [Fact]
    public void The_stagger_example_counts_six_records_of_a_key_in_the_minute_after_its_first()
    {
        var (program, output) = Compile(Samples.Stagger, StaggerSource(conceptPage: false));
        string[] amzn = ["20:17:30", "20:17:40", "20:17:50", "20:18:00", "20:18:10", "20:18:21"];
        string[] intc = ["20:18:31", "20:18:41", "20:18:51", "20:19:01", "20:19:11", "20:19:21"];
        foreach (var at in amzn)
            program.Insert("SOURCE_SQL_STREAM_001", 0, Event("2018-08-01 " + at, "2018-08-01T20:17:20.797945", "AMZN"));
        foreach (var at in intc)
            program.Insert("SOURCE_SQL_STREAM_001", 0, Event("2018-08-01 " + at, "2018-08-01T20:18:21.043084", "INTC"));
        program.AdvanceRowtime(Values.ParseTimestamp("2018-08-01 20:19:31")!.Value);

        Assert.Equal(2, output.Count);
        Assert.Equal([Values.ParseTimestamp("2018-08-01 20:18:30"), Values.ParseTimestamp("2018-08-01T20:17:20.797945"), "AMZN", 6L], output[0].Row);
        Assert.Equal([Values.ParseTimestamp("2018-08-01 20:19:31"), Values.ParseTimestamp("2018-08-01T20:18:21.043084"), "INTC", 6L], output[1].Row);
    }

    [Fact]
    public void Saved_stagger_state_resumes_to_the_same_rows_as_an_uninterrupted_run()
    {
        var random = new Random(14);
        var events = Enumerable.Range(0, 600).Select(i =>
        {
            var rowtime = T0.AddSeconds(i * 2);
            return (object?[])[rowtime, rowtime, $"K{random.Next(6)}", rowtime.AddSeconds(-random.Next(30))];
        }).ToList();
        var (whole, expected) = Compile(Samples.StaggerByMinute, StaggerSource(conceptPage: true));
        foreach (var e in events)
            whole.Insert("SOURCE_SQL_STREAM_001", 0, e);
        whole.AdvanceRowtime(T0.AddHours(1));

        var (first, actual) = Compile(Samples.StaggerByMinute, StaggerSource(conceptPage: true));
        foreach (var e in events.Take(301))
            first.Insert("SOURCE_SQL_STREAM_001", 0, e);
        var (second, rest) = Compile(Samples.StaggerByMinute, StaggerSource(conceptPage: true));
        second.RestoreState(first.SaveState());
        foreach (var e in events.Skip(301))
            second.Insert("SOURCE_SQL_STREAM_001", 0, e);
        second.AdvanceRowtime(T0.AddHours(1));
        actual.AddRange(rest);

        Assert.Equal(600.0, expected.Sum(e => (double)e.Row[3]!));
        Assert.Equal(expected.Select(e => string.Join('|', e.Row)).Order(), actual.Select(a => string.Join('|', a.Row)).Order());
    }

    private static ReferenceTableSchema Companies() => new("CompanyName",
        [new SqlColumn("Ticker", SqlKind.Varchar, "VARCHAR(4)"), new SqlColumn("Company", SqlKind.Varchar, "VARCHAR(15)")]);

    [Fact]
    public void The_reference_data_sample_left_joins_the_company_name_and_keeps_unknown_tickers()
    {
        var program = SqlProgram.Compile(Samples.ReferenceJoin, [Tickers()], [Companies()]);
        var output = new List<object?[]>();
        program.Emitted = (_, r) => output.Add(r);
        program.SetReferenceRows("CompanyName", [["AMZN", "Amazon"], ["WAS", "SomeCompanyC"]]);

        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "AMZN", "RETAIL", 1.5, 120));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "QXZ", "ENERGY", -2, 40));
        program.SetReferenceRows("CompanyName", [["QXZ", "Reloaded"]]);
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "QXZ", "ENERGY", -1, 41));

        Assert.Equal(
            [["AMZN", "Amazon", "RETAIL", 1.5, 120.0], ["QXZ", null, "ENERGY", -2.0, 40.0], ["QXZ", "Reloaded", "ENERGY", -1.0, 41.0]],
            output.Select(r => r[1..]).ToList());
    }

    [Fact]
    public void An_inner_join_drops_unmatched_rows_and_emits_one_row_per_match()
    {
        const string code = """
            CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker VARCHAR(4), company VARCHAR(20), price DOUBLE);
            CREATE OR REPLACE PUMP "P" AS INSERT INTO "DESTINATION_SQL_STREAM"
              SELECT STREAM s.ticker_symbol, c.Company, s.price
              FROM "SOURCE_SQL_STREAM_001" AS s JOIN "CompanyName" AS c ON s.ticker_symbol = c.Ticker
              WHERE c.Company <> 'Hidden';
            """;
        var program = SqlProgram.Compile(code, [Tickers()], [Companies()]);
        var output = new List<object?[]>();
        program.Emitted = (_, r) => output.Add(r);
        program.SetReferenceRows("CompanyName", [["AMZN", "Amazon"], ["AMZN", "Amazon.com"], ["MMB", "Hidden"]]);

        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "AMZN", "RETAIL", 1, 10));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "QXZ", "ENERGY", 1, 20));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "MMB", "ENERGY", 1, 30));

        Assert.Equal([["AMZN", "Amazon", 10.0], ["AMZN", "Amazon.com", 10.0]], output.Select(r => r[1..]).ToList());
    }

    [Theory]
    [InlineData("FROM \"SOURCE_SQL_STREAM_001\" JOIN \"Nope\" ON 1 = 1", "Reference table Nope does not exist")]
    [InlineData("FROM \"SOURCE_SQL_STREAM_001\" JOIN \"CompanyName\" AS c ON c.Missing = 1", "Column MISSING not found in reference table CompanyName")]
    [InlineData("FROM \"SOURCE_SQL_STREAM_001\" RIGHT JOIN \"CompanyName\" ON 1 = 1", "RIGHT JOIN is not supported")]
    [InlineData("FROM \"CompanyName\"", "it is a reference table")]
    public void Bad_joins_are_refused_with_the_position_and_reason(string from, string reason)
    {
        var code = "CREATE OR REPLACE STREAM \"D\" (t VARCHAR(4));\nCREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"D\" SELECT STREAM 'x' " + from + ";";
        var e = Assert.Throws<SqlException>(() => SqlProgram.Compile(code, [Tickers()], [Companies()]));
        Assert.Contains(reason, e.Message);
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void A_row_a_pump_cannot_evaluate_goes_to_error_stream_and_the_next_rows_go_on()
    {
        var (program, output) = Compile("""
            CREATE OR REPLACE STREAM OUT_STREAM (ticker VARCHAR(4), ratio DOUBLE);
            CREATE OR REPLACE PUMP RATIO_PUMP AS INSERT INTO OUT_STREAM
              SELECT STREAM ticker_symbol, price / CAST(change AS INTEGER) FROM SOURCE_SQL_STREAM_001;
            """);
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0, "AAA", "TECH", 2, 10));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0.AddSeconds(1), "BBB", "TECH", 0, 10));
        program.Insert("SOURCE_SQL_STREAM_001", 0, Tick(T0.AddSeconds(2), "CCC", "TECH", 5, 10));

        Assert.Equal(["OUT_STREAM", ErrorStream.Name, "OUT_STREAM"], output.Select(o => o.Stream));
        var error = output[1].Row;
        Assert.Equal([T0.AddSeconds(1)], error[..1]);
        Assert.Equal([ErrorStream.Level, ErrorStream.EvaluationError, "Division by zero.", T0.AddSeconds(1)], error[2..6]);
        Assert.Equal("RATIO_PUMP", error[7]);
        Assert.Equal(1, program.ErrorRows);
        Assert.Equal(["CCC", 2.0], output[2].Row[1..]);
    }
}
