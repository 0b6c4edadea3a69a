using Runnel.Core.Errors;

namespace Runnel.Core.Tests;

public class ErrorTests
{
    [Fact]
    public void Validation_errors_are_counted_and_joined_like_aws()
    {
        var one = KinesisException.Validation(["Value null at 'streamName' failed to satisfy constraint: Member must not be null"]);
        Assert.Equal("1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null", one.Message);
        var two = KinesisException.Validation(["a", "b"]);
        Assert.StartsWith("2 validation errors detected: a; b", two.Message);
        Assert.Equal(ErrorTypes.Validation, two.Type);
        Assert.Equal(400, two.StatusCode);
    }
}
