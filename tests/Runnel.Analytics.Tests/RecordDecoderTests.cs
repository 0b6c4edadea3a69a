using System.Text;
using Runnel.Analytics.Applications;
using Runnel.Analytics.Runner;
using Runnel.Analytics.Sql;

namespace Runnel.Analytics.Tests;

/// <summary>
/// JSON records whose columns all map top-level members are read in one tokenizer pass; any nested mapping reads
/// the record as a document. Both must give the same rows and refuse the same records.
/// </summary>
public sealed class RecordDecoderTests
{
    private static readonly InputColumn[] TopLevel =
    [
        new("TICKER", "$.ticker", "VARCHAR(8)", SqlKind.Varchar),
        new("PRICE", "$.price", "DOUBLE", SqlKind.Double),
        new("QTY", "$.qty", "INTEGER", SqlKind.Integer),
        new("AT", "$.at", "TIMESTAMP", SqlKind.Timestamp),
        new("OK", "$.ok", "BOOLEAN", SqlKind.Boolean),
        new("RAW", "$.raw", "VARCHAR(64)", SqlKind.Varchar),
        new("Q\u00e9", null, "VARCHAR(8)", SqlKind.Varchar),
    ];

    private static RecordDecoder Decoder(params InputColumn[] columns) =>
        new(new InputSchemaModel("JSON", "\n", ",", columns));

    private const string Full = """{"ticker":"AMZN","price":101.5,"qty":3,"at":"2026-01-01 00:00:01.250","ok":true,"raw":{"a":[1,2]},"Qé":"x"}""";

    public static TheoryData<string> Records() =>
    [
        Full,
        """{"price":7,"qty":7.9,"ticker":12.50,"raw":[1, "two"],"ok":"false"}""",
        """{"ticker":"first","ticker":"last","unused":{"deep":{"deeper":[1,2,3]}},"qty":"42","at":1767225600000}""",
        """{"t\u0069cker":"escaped","price":null,"raw":"plain","Q\u00e9":"esc"}""",
        """{"ticker":"AMZN","price":"not a number"}""",
        """{"qty":{"a":1}}""",
        """[1,2,3]""",
        "\"just a string\"",
        """{"ticker":"AMZN"} {"ticker":"again"}""",
        """{"ticker":"AMZN",}""",
        "{\"ticker\":\"AMZN",
        "",
        """  {"ticker" : "spaced" , "price" : 1e3 }  """,
    ];

    [Theory]
    [MemberData(nameof(Records))]
    public void The_one_pass_reader_and_the_document_give_the_same_row(string record)
    {
        var fast = Decoder(TopLevel);
        // One nested mapping makes the decoder read every record as a document.
        var document = Decoder([.. TopLevel, new InputColumn("NESTED", "$.raw.a", "VARCHAR(8)", SqlKind.Varchar)]);
        var fastRows = new List<object?[]>();
        var documentRows = new List<object?[]>();
        fast.Decode(Encoding.UTF8.GetBytes(record), 1_000, fastRows);
        document.Decode(Encoding.UTF8.GetBytes(record), 1_000, documentRows);

        Assert.Equal(document.Failed, fast.Failed);
        Assert.Equal(documentRows.Count, fastRows.Count);
        for (var i = 0; i < fastRows.Count; i++)
            Assert.Equal(documentRows[i][..(TopLevel.Length + 2)], fastRows[i]);
    }

    [Fact]
    public void A_record_of_every_type_maps_as_the_schema_says()
    {
        var rows = new List<object?[]>();
        Decoder(TopLevel).Decode(Encoding.UTF8.GetBytes(Full), 1_000, rows);
        var row = Assert.Single(rows);
        Assert.Equal(DateTime.UnixEpoch.AddSeconds(1), row[0]);
        Assert.Equal<object?[]>(["AMZN", 101.5, 3L, new DateTime(2026, 1, 1, 0, 0, 1, 250, DateTimeKind.Utc), true, """{"a":[1,2]}""", "x"], row[2..]);
    }
}
