using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// Standalone in its own process serving https only, with a certificate and key from PEM files named by Kestrel's
/// standard settings (<c>Kestrel:Certificates:Default:Path</c> / <c>KeyPath</c>), as an operator configures it.
/// </summary>
public sealed class TlsTests
{
    [Fact]
    public async Task Standalone_serves_the_AWS_CLI_and_the_JavaScript_SDK_over_https_and_nothing_over_plain_http()
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory("runnel-tls");
        using var certificate = SelfSigned();
        var certificatePath = Path.Combine(folder.Path, "tls.crt");
        var keyPath = Path.Combine(folder.Path, "tls.key");
        await File.WriteAllTextAsync(certificatePath, certificate.ExportCertificatePem(), ct);
        using (var key = certificate.GetECDsaPrivateKey()!)
            await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem(), ct);

        var port = FreePorts.Get();
        var address = new Uri($"https://127.0.0.1:{port}");
        await using var host = await ProcessHost.StartAsync(new ProcessHostOptions("tls-standalone", RepositoryPaths.ServiceAssembly("Runnel.Standalone"), address,
            [
                $"--urls={address}",
                $"--Runnel:DataDirectory={Path.Combine(folder.Path, "data")}",
                $"--Kestrel:Certificates:Default:Path={certificatePath}",
                $"--Kestrel:Certificates:Default:KeyPath={keyPath}",
            ])
        {
            WorkingDirectory = folder.Path,
            TrustedCertificate = certificate,
        }, ct);

        // The AWS CLI (HTTP/1.1 over TLS) trusting the test's certificate through AWS_CA_BUNDLE.
        var aws = new AwsCli(address) { CaBundle = certificatePath };
        var stream = Names.Stream("tls");
        await aws.JsonAsync("kinesis", "create-stream", "--stream-name", stream, "--shard-count", "1");
        await aws.JsonAsync("kinesis", "wait", "stream-exists", "--stream-name", stream);
        var put = await aws.JsonAsync("kinesis", "put-record", "--stream-name", stream, "--partition-key", "k", "--data", Convert.ToBase64String("over tls"u8));
        var iterator = (await aws.JsonAsync("kinesis", "get-shard-iterator", "--stream-name", stream,
            "--shard-id", "shardId-000000000000", "--shard-iterator-type", "TRIM_HORIZON"))!["ShardIterator"]!.GetValue<string>();
        var records = (await aws.JsonAsync("kinesis", "get-records", "--shard-iterator", iterator))!["Records"]!.AsArray();
        var record = Assert.Single(records)!;
        Assert.Equal(put!["SequenceNumber"]!.GetValue<string>(), record["SequenceNumber"]!.GetValue<string>());
        Assert.Equal("over tls", Encoding.UTF8.GetString(Convert.FromBase64String(record["Data"]!.GetValue<string>())));

        // Without the bundle the CLI does not trust the server: the certificate is checked, not ignored.
        var untrusted = await new AwsCli(address).RunAsync("kinesis", "list-streams");
        Assert.False(untrusted.Succeeded, untrusted.Describe("aws kinesis list-streams (no CA bundle)"));
        Assert.Contains("SSL", untrusted.StandardError, StringComparison.Ordinal);

        // The JavaScript SDK (HTTP/2, chosen by ALPN) trusting it through NODE_EXTRA_CA_CERTS.
        await JavaScriptSdkTests.RunAsync(address, () => host.Output,
            environment: new Dictionary<string, string?> { ["NODE_EXTRA_CA_CERTS"] = certificatePath });

        // Plain HTTP on the same port gets no answer: the TLS handshake fails and the connection is closed.
        using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync($"http://127.0.0.1:{port}/health/live", ct));
        Assert.True(host.IsRunning, host.Output);
    }

    /// <summary>A self-signed P-256 certificate for 127.0.0.1 and localhost, valid from an hour ago for a day.</summary>
    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=runnel-test", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        // It is its own root: clients (OpenSSL in the CLI and in node) accept it as a trust anchor.
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var subjectKeyId = new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false);
        request.CertificateExtensions.Add(subjectKeyId);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(subjectKeyId));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
    }
}
