using Runnel.Ingest.Auth;

namespace Runnel.Ingest.Tests;

public class AccessPolicyTests
{
    private const string Orders = "arn:aws:kinesis:us-east-1:000000000000:stream/orders";
    private const string Clicks = "arn:aws:kinesis:us-east-1:000000000000:stream/clicks";

    [Fact]
    public void Allows_only_what_a_statement_names_and_an_explicit_deny_wins()
    {
        var policy = AccessPolicy.Parse("""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":["kinesis:Get*","kinesis:PutRecord"],"Resource":"arn:aws:kinesis:*:*:stream/*"},
              {"Effect":"Deny","Action":"kinesis:*","Resource":"arn:aws:kinesis:us-east-1:000000000000:stream/clicks"}]}
            """);
        Assert.Equal(PolicyDecision.Allow, policy.Decide("kinesis:PutRecord", Orders));
        Assert.Equal(PolicyDecision.Allow, policy.Decide("kinesis:getrecords", Orders));
        Assert.Equal(PolicyDecision.ImplicitDeny, policy.Decide("kinesis:PutRecords", Orders));
        Assert.Equal(PolicyDecision.ImplicitDeny, policy.Decide("firehose:PutRecord", Orders));
        Assert.Equal(PolicyDecision.ExplicitDeny, policy.Decide("kinesis:PutRecord", Clicks));
        Assert.Equal(PolicyDecision.ImplicitDeny, policy.Decide("kinesis:ListStreams", RequestAuthorizer.AnyResource));
    }

    [Fact]
    public void Resources_only_need_working_out_when_a_statement_restricts_them()
    {
        Assert.Equal(PolicyDecision.Allow, AccessPolicy.Administrator.DecideForAnyResource("kinesis:PutRecord"));
        var restricted = AccessPolicy.Parse($$$"""{"Statement":{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"{{{Orders}}}"}}""");
        Assert.Null(restricted.DecideForAnyResource("kinesis:PutRecord"));
        Assert.Equal(PolicyDecision.ImplicitDeny, restricted.DecideForAnyResource("kinesis:DeleteStream"));
        Assert.Equal(PolicyDecision.ImplicitDeny, AccessPolicy.Nothing.DecideForAnyResource("kinesis:PutRecord"));
    }

    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("kinesis:Put*", "kinesis:PutRecords", true)]
    [InlineData("kinesis:Put?ecord", "kinesis:PutRecord", true)]
    [InlineData("kinesis:Put?ecord", "kinesis:PutRecords", false)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    [InlineData("arn:*:stream/o*s", "arn:x:stream/orders", true)]
    public void Wildcards_match_like_iam(string pattern, string value, bool matches) =>
        Assert.Equal(matches, Wildcard.Matches(pattern, value, ignoreCase: false));

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"Version":"2012-10-17"}""")]
    [InlineData("""{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}""")]
    [InlineData("""{"Statement":[{"Effect":"Allow","Resource":"*"}]}""")]
    [InlineData("""{"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}""")]
    public void Malformed_documents_are_refused(string document) =>
        Assert.Throws<FormatException>(() => AccessPolicy.Parse(document));

    [Fact]
    public void Sealed_secrets_open_only_with_their_key_id_and_master_key()
    {
        var master = Convert.ToBase64String(new byte[32].Select((_, i) => (byte)i).ToArray());
        var sealer = new SecretSealer(master);
        var sealedSecret = sealer.Seal("AKIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        Assert.DoesNotContain("wJalrXUtnFEMI", sealedSecret, StringComparison.Ordinal);
        Assert.Equal("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sealer.Open("AKIAEXAMPLE", sealedSecret));
        Assert.Null(sealer.Open("AKIAOTHER", sealedSecret));
        Assert.Null(new SecretSealer(Convert.ToBase64String(new byte[32])).Open("AKIAEXAMPLE", sealedSecret));
        Assert.Throws<InvalidOperationException>(() => new SecretSealer(Convert.ToBase64String(new byte[16])));
    }
}
