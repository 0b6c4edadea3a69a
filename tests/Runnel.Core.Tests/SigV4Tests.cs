using Runnel.Core.Security;

namespace Runnel.Core.Tests;

public class SigV4Tests
{
    /// <summary>The worked example of AWS's Signature Version 4 documentation (IAM ListUsers, 2015-08-30).</summary>
    [Fact]
    public void Reproduces_the_documented_example_signature()
    {
        const string secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        var key = SigV4.SigningKey(secret, "20150830", "us-east-1", "iam");
        Assert.Equal("c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9", Convert.ToHexStringLower(key));

        var canonical = SigV4.CanonicalRequest("GET", SigV4.CanonicalPath("/"), SigV4.CanonicalQuery("?Version=2010-05-08&Action=ListUsers"),
        [
            new("content-type", SigV4.CanonicalHeaderValue(["application/x-www-form-urlencoded;  charset=utf-8 "])),
            new("host", "iam.amazonaws.com"),
            new("x-amz-date", "20150830T123600Z"),
        ], SigV4.EmptyPayloadHash);
        Assert.Equal(
            "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\n"
            + "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            canonical);
        var stringToSign = SigV4.StringToSign("20150830T123600Z", "20150830/us-east-1/iam/aws4_request", canonical);
        Assert.EndsWith("f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59", stringToSign);
        Assert.Equal("5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7", SigV4.Signature(key, stringToSign));
    }

    [Theory]
    [InlineData("/", "/")]
    [InlineData("", "/")]
    [InlineData("/2015-03-31/event-source-mappings/", "/2015-03-31/event-source-mappings/")]
    [InlineData("/a/./b/../c", "/a/c")]
    [InlineData("/v1/streams/a%20b/records", "/v1/streams/a%2520b/records")]
    public void Paths_are_normalized_and_encoded_twice(string raw, string canonical) =>
        Assert.Equal(canonical, SigV4.CanonicalPath(raw));

    [Fact]
    public void Query_pairs_are_decoded_encoded_the_rfc3986_way_and_sorted_without_the_signature()
    {
        Assert.Equal("A=&B=x%2Fy&B=z&c=a%20b~",
            SigV4.CanonicalQuery("?c=a%20b~&B=z&X-Amz-Signature=abc&A&B=x/y", skip: "X-Amz-Signature"));
        Assert.Equal("", SigV4.CanonicalQuery(""));
    }
}
