using Microsoft.Extensions.Options;
using Runnel.Core.Errors;

namespace Runnel.Ingest.Auth;

/// <summary>
/// Decides whether a principal (an access key id from <see cref="IRequestAuthenticator"/>) may perform an action,
/// such as <c>kinesis:PutRecord</c>, on a resource ARN, by its identity policy; refuses with AccessDeniedException in
/// AWS's wording. With <c>Security:Authentication=None</c> everything is allowed.
/// </summary>
public sealed class RequestAuthorizer(AccessKeyStore keys, IOptions<SecurityOptions> options)
{
    /// <summary>The resource of account-wide actions (ListStreams, key management): only a policy on <c>*</c> covers it.</summary>
    public const string AnyResource = "*";

    public bool Enabled => options.Value.Authentication == AuthenticationMode.SigV4;

    /// <summary>
    /// True when the principal may perform <paramref name="action"/> whatever the resource; false when the resource must
    /// be worked out and passed to <see cref="AuthorizeAsync"/> (which also words a refusal), saving that work for the
    /// keys whose policies do not restrict resources (administrators, the common case).
    /// </summary>
    public async ValueTask<bool> AllowsAnyResourceAsync(string principal, string action, CancellationToken cancellationToken)
    {
        if (!Enabled)
            return true;
        var key = await keys.FindAsync(principal, cancellationToken);
        return key is not null && key.Policy.DecideForAnyResource(action) == PolicyDecision.Allow;
    }

    public async ValueTask AuthorizeAsync(string principal, string action, string resource, CancellationToken cancellationToken)
    {
        if (!Enabled)
            return;
        var key = await keys.FindAsync(principal, cancellationToken)
            ?? throw new KinesisException(SigV4Authenticator.UnrecognizedClient, "The security token included in the request is invalid.");
        switch (key.Policy.Decide(action, resource))
        {
            case PolicyDecision.Allow:
                return;
            case PolicyDecision.ExplicitDeny:
                throw new KinesisException(ErrorTypes.AccessDenied,
                    $"User: {key.UserArn} is not authorized to perform: {action} on resource: {resource} with an explicit deny in an identity-based policy");
            default:
                throw new KinesisException(ErrorTypes.AccessDenied,
                    $"User: {key.UserArn} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action");
        }
    }
}
