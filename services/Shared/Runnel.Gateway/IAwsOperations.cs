namespace Runnel.Gateway;

/// <summary>
/// The operations of one AWS JSON-protocol service (or a part of one) that the public port serves, e.g. every
/// <c>Firehose_20150804.*</c> target. The gateway owns the wire around them: protocol detection, body reading,
/// authentication, request ids and error envelopes; a handler reads the request and writes its answer.
/// </summary>
public interface IAwsOperations
{
    /// <summary>The owning service's name ("fanout", "firehose", "analytics"), as in <see cref="AwsServices"/>.</summary>
    string Service { get; }

    /// <summary>The <c>X-Amz-Target</c> prefix, dot included.</summary>
    string TargetPrefix { get; }

    bool Handles(string operation);

    /// <summary>
    /// <paramref name="operation"/> as a string. A handler on the data path returns literals for its hot operations so
    /// that finding the handler of a call allocates nothing.
    /// </summary>
    string NameOf(ReadOnlySpan<char> operation) => operation.ToString();

    /// <summary>
    /// Runs the operation and writes the whole answer (see <see cref="AwsAnswers"/>). AWS errors are thrown as
    /// <see cref="Core.Errors.KinesisException"/>, which the gateway writes in the request's format.
    /// </summary>
    Task HandleAsync(AwsRequest request);
}
