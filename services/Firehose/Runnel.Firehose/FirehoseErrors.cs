using Runnel.Core.Errors;

namespace Runnel.Firehose;

/// <summary>The <c>__type</c> names of Firehose's errors (API reference, "Errors" of each operation).</summary>
public static class FirehoseErrors
{
    public const string InvalidArgument = "InvalidArgumentException";
    public const string ResourceNotFound = "ResourceNotFoundException";
    public const string ResourceInUse = "ResourceInUseException";
    public const string LimitExceeded = "LimitExceededException";
    public const string ConcurrentModification = "ConcurrentModificationException";
    public const string ServiceUnavailable = "ServiceUnavailableException";
    public const string InvalidSource = "InvalidSourceException";

    public static KinesisException Invalid(string message) => new(InvalidArgument, message);

    public static KinesisException NotFound(string name, string account) =>
        new(ResourceNotFound, $"Firehose {name} under account {account} not found.");
}
