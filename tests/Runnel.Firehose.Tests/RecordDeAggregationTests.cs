using System.Text;
using Runnel.Firehose.Delivery.Partitioning;

namespace Runnel.Firehose.Tests;

/// <summary>Splitting aggregated records into sub-records before partitioning.</summary>
public sealed class RecordDeAggregationTests
{
    private static string[] Split(string record, string type, string? delimiter = null) =>
        [.. RecordDeAggregation.Split(Encoding.UTF8.GetBytes(record), type, delimiter).Select(Encoding.UTF8.GetString)];

    [Fact]
    public void JSON_sub_records_are_the_consecutive_values_with_their_exact_bytes() =>
        Assert.Equal(["""{"a": 1}""", """{"b":[1,{"c":2}]}""", "[3]", "\"s\"", "4"], Split("""{"a": 1}{"b":[1,{"c":2}]}""" + "\n [3]\"s\" 4\n", RecordDeAggregation.Json));

    [Fact]
    public void Broken_JSON_fails_the_record() =>
        Assert.Throws<FormatException>(() => Split("""{"a":1}{"b":""", RecordDeAggregation.Json));

    [Fact]
    public void DELIMITED_sub_records_are_the_parts_between_delimiters_without_empty_ones() =>
        // IyMjIw== is "####", AWS's example.
        Assert.Equal(["one", "two", "three"], Split("one####two########three####", RecordDeAggregation.Delimited, "IyMjIw=="));
}
