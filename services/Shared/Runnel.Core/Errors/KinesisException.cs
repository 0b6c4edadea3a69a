namespace Runnel.Core.Errors;

/// <summary>
/// An error answered to a client in the shape AWS uses: HTTP status, <c>__type</c> and message.
/// Anything that is not a <see cref="KinesisException"/> is a fault and answers 500 InternalFailure.
/// </summary>
public class KinesisException(string type, string message, int statusCode = 400) : Exception(message)
{
    public string Type { get; } = type;
    public int StatusCode { get; } = statusCode;

    public static KinesisException ResourceNotFound(string message) => new(ErrorTypes.ResourceNotFound, message);
    public static KinesisException ResourceInUse(string message) => new(ErrorTypes.ResourceInUse, message);
    public static KinesisException InvalidArgument(string message) => new(ErrorTypes.InvalidArgument, message);
    public static KinesisException LimitExceeded(string message) => new(ErrorTypes.LimitExceeded, message);
    public static KinesisException ExpiredIterator(string message) => new(ErrorTypes.ExpiredIterator, message);
    public static KinesisException Throughput(string message) => new(ErrorTypes.ProvisionedThroughputExceeded, message);
    public static KinesisException Serialization(string message) => new(ErrorTypes.Serialization, message);

    /// <summary>AWS phrases every constraint violation of one request into one ValidationException.</summary>
    public static KinesisException Validation(IReadOnlyList<string> violations)
    {
        var count = violations.Count;
        var text = $"{count} validation error{(count == 1 ? "" : "s")} detected: {string.Join("; ", violations)}";
        return new KinesisException(ErrorTypes.Validation, text);
    }
}

public static class ErrorTypes
{
    public const string ResourceNotFound = "ResourceNotFoundException";
    public const string ResourceInUse = "ResourceInUseException";
    public const string InvalidArgument = "InvalidArgumentException";
    public const string LimitExceeded = "LimitExceededException";
    public const string ExpiredIterator = "ExpiredIteratorException";
    public const string ProvisionedThroughputExceeded = "ProvisionedThroughputExceededException";
    public const string Serialization = "SerializationException";
    public const string Validation = "ValidationException";
    public const string UnknownOperation = "UnknownOperationException";
    public const string InternalFailure = "InternalFailure";
    public const string AccessDenied = "AccessDeniedException";
    public const string MissingAuthenticationToken = "MissingAuthenticationTokenException";
}
