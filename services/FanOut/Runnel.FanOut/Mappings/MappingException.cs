namespace Runnel.FanOut.Mappings;

/// <summary>An error answered in Lambda's shape: the status, <c>x-amzn-ErrorType</c> and <c>{"Type":"User","message"}</c>.</summary>
public sealed class MappingException(string type, int statusCode, string message) : Exception(message)
{
    public string Type { get; } = type;
    public int StatusCode { get; } = statusCode;

    public static MappingException InvalidParameter(string message) => new("InvalidParameterValueException", 400, message);
    public static MappingException NotFound(string message) => new("ResourceNotFoundException", 404, message);
    public static MappingException Conflict(string message) => new("ResourceConflictException", 409, message);
}
