namespace Runnel.Analytics.Tests;

/// <summary>Application code from AWS's Kinesis Analytics SQL developer guide, unchanged.</summary>
public static class Samples
{
    /// <summary>Continuous queries: stock price changes greater than 15 percent.</summary>
    public const string ContinuousFilter = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4),
                                                           price DOUBLE);
        -- CREATE OR REPLACE PUMP to insert into output
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS
          INSERT INTO "DESTINATION_SQL_STREAM"
              SELECT STREAM TICKER_SYMBOL,
                            PRICE
              FROM   "SOURCE_SQL_STREAM_001"
              WHERE  (ABS((CHANGE / (PRICE-CHANGE)) * 100)) > 15;
        """;

    /// <summary>Tumbling windows: min and max price per ticker and minute of ROWTIME.</summary>
    public const string TumblingMinMax = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
                                           ticker_symbol VARCHAR(4),
                                           Min_Price     DOUBLE,
                                           Max_Price     DOUBLE);
        -- CREATE OR REPLACE PUMP to insert into output
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS
          INSERT INTO "DESTINATION_SQL_STREAM"
            SELECT STREAM Ticker_Symbol,
                          MIN(Price) AS Min_Price,
                          MAX(Price) AS Max_Price
            FROM    "SOURCE_SQL_STREAM_001"
            GROUP BY Ticker_Symbol,
                     STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND);
        """;

    /// <summary>Timestamps and the ROWTIME column: a count per ticker and minute, grouped by ROWTIME and arrival time.</summary>
    public const string TumblingCount = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM"
            ("ingest_time"    timestamp,
            "APPROXIMATE_ARRIVAL_TIME" timestamp,
            "ticker_symbol"  VARCHAR(12),
            "symbol_count"        integer);


        CREATE OR REPLACE PUMP "STREAM_PUMP" AS
            INSERT INTO "DESTINATION_SQL_STREAM"
            SELECT STREAM STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND) AS "ingest_time",
                STEP("SOURCE_SQL_STREAM_001".APPROXIMATE_ARRIVAL_TIME BY INTERVAL '60' SECOND) AS "APPROXIMATE_ARRIVAL_TIME",
                "TICKER_SYMBOL",
                COUNT(*) AS "symbol_count"
            FROM "SOURCE_SQL_STREAM_001"
            GROUP BY "TICKER_SYMBOL",
                STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND),
                STEP("SOURCE_SQL_STREAM_001".APPROXIMATE_ARRIVAL_TIME BY INTERVAL '60' SECOND);
        """;
}
