using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Ingest.Options;

namespace Runnel.Ingest.Auth;

/// <summary>
/// Decides whether a principal (an access key id from <see cref="IRequestAuthenticator"/>) may perform an action,
/// such as <c>kinesis:PutRecord</c>, on a resource ARN, as AWS combines identity- and resource-based policies within
/// one account: an explicit Deny in either wins, otherwise an Allow in either suffices. Refuses with
/// AccessDeniedException in AWS's wording. With <c>Security:Authentication=None</c> everything is allowed.
/// </summary>
public sealed class RequestAuthorizer(AccessKeyStore keys, ResourcePolicyStore resourcePolicies, IOptions<SecurityOptions> options, IOptions<RunnelOptions> runnel)
{
    /// <summary>The resource of account-wide actions (ListStreams, key management): only a policy on <c>*</c> covers it.</summary>
    public const string AnyResource = "*";

    public bool Enabled => options.Value.Authentication == AuthenticationMode.SigV4;

    /// <summary>
    /// True when the principal may perform <paramref name="action"/> whatever the resource; false when the resource must
    /// be worked out and passed to <see cref="AuthorizeAsync"/> (which also words a refusal), saving that work for the
    /// keys whose policies do not restrict resources (administrators, the common case) while no resource policy
    /// could deny the action to them.
    /// </summary>
    public async ValueTask<bool> AllowsAnyResourceAsync(string principal, string action, CancellationToken cancellationToken)
    {
        if (!Enabled)
            return true;
        var key = await keys.FindAsync(principal, cancellationToken);
        if (key is null || key.Policy.DecideForAnyResource(action) != PolicyDecision.Allow)
            return false;
        var stored = await resourcePolicies.CurrentAsync(cancellationToken);
        return stored.IsEmpty || !stored.MayDeny(action, Caller(key));
    }

    public async ValueTask AuthorizeAsync(string principal, string action, string resource, CancellationToken cancellationToken)
    {
        if (!Enabled)
            return;
        var key = await keys.FindAsync(principal, cancellationToken)
            ?? throw new KinesisException(SigV4Authenticator.UnrecognizedClient, "The security token included in the request is invalid.");
        var identity = key.Policy.Decide(action, resource);
        var attached = resource == AnyResource ? null : (await resourcePolicies.CurrentAsync(cancellationToken)).Find(resource);
        var resourceBased = attached?.Decide(action, resource, Caller(key)) ?? PolicyDecision.ImplicitDeny;
        var refused = $"User: {key.UserArn} is not authorized to perform: {action} on resource: {resource}";
        if (resourceBased == PolicyDecision.ExplicitDeny)
            throw new KinesisException(ErrorTypes.AccessDenied, refused + " with an explicit deny in a resource-based policy");
        if (identity == PolicyDecision.ExplicitDeny)
            throw new KinesisException(ErrorTypes.AccessDenied, refused + " with an explicit deny in an identity-based policy");
        if (identity == PolicyDecision.Allow || resourceBased == PolicyDecision.Allow)
            return;
        // Within one account AWS words an implicit deny after the identity policies, whether or not a resource policy exists.
        throw new KinesisException(ErrorTypes.AccessDenied, $"{refused} because no identity-based policy allows the {action} action");
    }

    private PolicyCaller Caller(AccessKey key) => new(key.UserArn, runnel.Value.AccountId);
}
