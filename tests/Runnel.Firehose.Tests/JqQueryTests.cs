using System.Text;
using Runnel.Firehose.Delivery.Partitioning;

namespace Runnel.Firehose.Tests;

/// <summary>The JQ subset of MetadataExtractionQuery, on AWS's examples and the functions used in keys.</summary>
public sealed class JqQueryTests
{
    private const string Record = """
        {"type":{"device":"mobile","event":"user_clicked_submit_button"},"customer_id":"1234567890","event_timestamp":1565382027,
         "region":"Sample_Region","tags":["a","b"],"path":"2019-08-09/x","n":42,"ok":true,"weird key":"w"}
        """;

    private static Dictionary<string, string> Eval(string query, string record = Record) =>
        JqQuery.Evaluate(JqQuery.ParseKeys(query), Encoding.UTF8.GetBytes(record));

    [Fact]
    public void AWS_examples_extract_paths_and_strftime_parts()
    {
        var keys = Eval("""{customer_id: .customer_id, device: .type.device, year: .event_timestamp| strftime("%Y"), month: .event_timestamp| strftime("%m"), day: .event_timestamp| strftime("%d"), hour: .event_timestamp| strftime("%H")}""");
        Assert.Equal(new Dictionary<string, string>
        {
            ["customer_id"] = "1234567890", ["device"] = "mobile", ["year"] = "2019", ["month"] = "08", ["day"] = "09", ["hour"] = "20",
        }, keys);
    }

    [Theory]
    [InlineData("""{k: .type["device"]}""", "mobile")]
    [InlineData("""{k: .["weird key"]}""", "w")]
    [InlineData("""{k: .tags[1]}""", "b")]
    [InlineData("""{k: .tags[-1]}""", "b")]
    [InlineData("""{k: .path | split("/")[0]}""", "2019-08-09")]
    [InlineData("""{k: (.path | split("/"))[1]}""", "x")]
    [InlineData("""{k: .path[0:4]}""", "2019")]
    [InlineData("""{k: .region | ascii_downcase}""", "sample_region")]
    [InlineData("""{k: .region | ltrimstr("Sample_")}""", "Region")]
    [InlineData("""{k: .tags | join("-")}""", "a-b")]
    [InlineData("""{k: .n}""", "42")]
    [InlineData("""{k: .n | tostring}""", "42")]
    [InlineData("""{k: .ok}""", "true")]
    [InlineData("""{k: .event_timestamp | todate}""", "2019-08-09T20:20:27Z")]
    [InlineData("""{"k": "fixed"}""", "fixed")]
    public void Supported_expressions_give_the_key_jq_gives(string query, string expected) => Assert.Equal(expected, Eval(query)["k"]);

    [Fact]
    public void Shorthand_keys_name_top_level_members() => Assert.Equal("1234567890", Eval("{customer_id}")["customer_id"]);

    [Theory]
    [InlineData("""{k: .missing}""", "null")]
    [InlineData("""{k: .type}""", "an object")]
    [InlineData("""{k: .tags}""", "an array")]
    [InlineData("""{k: .n | ascii_downcase}""", "needs a string")]
    [InlineData("""{k: .customer_id.x}""", "cannot index a string")]
    public void Keys_that_are_not_values_fail_the_record(string query, string message) =>
        Assert.Contains(message, Assert.Throws<JqException>(() => Eval(query)).Message);

    [Fact]
    public void A_record_that_is_not_JSON_fails() => Assert.Throws<JqException>(() => Eval("{k: .a}", "not json"));

    [Theory]
    [InlineData(".customer_id")]
    [InlineData("{}")]
    [InlineData("{k: .a | test(\"x\")}")]
    [InlineData("{k: .a, k: .b}")]
    [InlineData("{k: .a")]
    [InlineData("{k: .a, j: .b} | .k")]
    [InlineData("{k: .a // \"x\"}")]
    public void Queries_outside_the_subset_are_refused(string query) => Assert.Throws<JqException>(() => JqQuery.ParseKeys(query));
}
