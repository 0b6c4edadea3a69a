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

    /// <summary>Sliding windows, example 1: min, max and average price per ticker over the last minute, named window W1.</summary>
    public const string SlidingMinMaxAvg = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
                                 ticker_symbol VARCHAR(10), 
                                 Min_Price     double, 
                                 Max_Price     double, 
                                 Avg_Price     double);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS 
           INSERT INTO "DESTINATION_SQL_STREAM"
             SELECT STREAM ticker_symbol,
                           MIN(Price) OVER W1 AS Min_Price,
                           MAX(Price) OVER W1 AS Max_Price,
                           AVG(Price) OVER W1 AS Avg_Price
             FROM   "SOURCE_SQL_STREAM_001"
             WINDOW W1 AS (
                PARTITION BY ticker_symbol 
                RANGE INTERVAL '1' MINUTE PRECEDING);
        """;

    /// <summary>Sliding windows, example 3: two-row and ten-row moving averages of the price per ticker.</summary>
    public const string SlidingRows = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
                                   ticker_symbol      VARCHAR(12), 
                                   price              double, 
                                   average_last2rows  double, 
                                   average_last10rows double);

        CREATE OR REPLACE PUMP "myPump" AS INSERT INTO "DESTINATION_SQL_STREAM"
        SELECT STREAM ticker_symbol, 
                      price, 
                      avg(price) over last2rows, 
                      avg(price) over last10rows
        FROM SOURCE_SQL_STREAM_001
        WINDOW
            last2rows AS (PARTITION BY ticker_symbol ROWS 2 PRECEDING),
            last10rows AS (PARTITION BY ticker_symbol ROWS 10 PRECEDING);
        """;

    /// <summary>Stagger windows: a count per ticker and event time, in a window that opens at the key's first row.</summary>
    public const string Stagger = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
            event_time TIMESTAMP,
            ticker_symbol    VARCHAR(4),
            ticker_count     INTEGER);

        CREATE OR REPLACE PUMP "STREAM_PUMP" AS 
          INSERT INTO "DESTINATION_SQL_STREAM" 
            SELECT STREAM 
                EVENT_TIME, 
                TICKER,
                COUNT(TICKER) AS ticker_count
            FROM "SOURCE_SQL_STREAM_001"
            WINDOWED BY STAGGER (
                    PARTITION BY TICKER, EVENT_TIME RANGE INTERVAL '1' MINUTE);
        """;

    /// <summary>Stagger windows (concepts page): a count per ticker and event-time minute.</summary>
    public const string StaggerByMinute = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
            ticker_symbol    VARCHAR(4), 
            event_time       TIMESTAMP,
            ticker_count     DOUBLE);

        CREATE OR REPLACE PUMP "STREAM_PUMP" AS 
          INSERT INTO "DESTINATION_SQL_STREAM" 
            SELECT STREAM 
                TICKER_SYMBOL,
                FLOOR(EVENT_TIME TO MINUTE),
                COUNT(TICKER_SYMBOL) AS ticker_count
            FROM "SOURCE_SQL_STREAM_001"
            WINDOWED BY STAGGER (
                    PARTITION BY FLOOR(EVENT_TIME TO MINUTE), TICKER_SYMBOL RANGE INTERVAL '1' MINUTE);
        """;

    /// <summary>
    /// Adding reference data (getting-started stream): each ticker row with its company name from the S3 reference
    /// table CompanyName (columns Ticker, Company), LEFT JOIN so rows of unknown tickers still come through.
    /// </summary>
    public const string ReferenceJoin = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), "Company" varchar(20), sector VARCHAR(12), change DOUBLE, price DOUBLE);

        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
           SELECT STREAM ticker_symbol, "c"."Company", sector, change, price
           FROM "SOURCE_SQL_STREAM_001" LEFT JOIN "CompanyName" as "c"
           ON "SOURCE_SQL_STREAM_001".ticker_symbol = "c"."Ticker";
        """;

    /// <summary>The reference object of <see cref="ReferenceJoin"/>; its header line loads as a row too and matches no ticker.</summary>
    public const string TickerReferenceCsv = "Ticker,Company\nAMZN,Amazon\nASD,SomeCompanyA\nMMB,SomeCompanyB\nWAS,SomeCompanyC\n";

    /// <summary>Most frequently occurring values (TOP_K_ITEMS_TUMBLING): the five tickers seen most in each minute.</summary>
    public const string TopKItems = """
        CREATE OR REPLACE STREAM DESTINATION_SQL_STREAM (
          "TICKER" VARCHAR(4), 
          "MOST_FREQUENT_VALUES" BIGINT
        );

        CREATE OR REPLACE PUMP "STREAM_PUMP" AS 
            INSERT INTO "DESTINATION_SQL_STREAM"
            SELECT STREAM * 
                FROM TABLE (TOP_K_ITEMS_TUMBLING(
                    CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"),
                    'TICKER',         -- name of column in single quotes
                    5,                       -- number of the most frequently occurring values
                    60                       -- tumbling window size in seconds
                    )
                );
        """;

    /// <summary>COUNT_DISTINCT_ITEMS_TUMBLING (SQL reference): the number of distinct tickers in each minute.</summary>
    public const string CountDistinctItems = """
        CREATE OR REPLACE STREAM DESTINATION_SQL_STREAM (
          NUMBER_OF_DISTINCT_ITEMS BIGINT);

        CREATE OR REPLACE PUMP "STREAM_PUMP" AS 
           INSERT INTO "DESTINATION_SQL_STREAM" 
              SELECT STREAM * 
              FROM TABLE(COUNT_DISTINCT_ITEMS_TUMBLING(
                  CURSOR(SELECT STREAM * FROM "SOURCE_SQL_STREAM_001"),
                    'TICKER_SYMBOL', -- name of column in single quotes
                    60 -- tumbling window size in seconds
              )
        );
        """;
}
