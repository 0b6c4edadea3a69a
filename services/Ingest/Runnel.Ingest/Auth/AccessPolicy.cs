using System.Text.Json;

namespace Runnel.Ingest.Auth;

/// <summary>
/// An IAM-style policy: statements of Effect (Allow/Deny), Action and Resource, each a string or a list
/// with <c>*</c> and <c>?</c> wildcards. An explicit Deny wins over any Allow; with no matching Allow the answer is
/// no. Actions compare without case (<c>kinesis:putrecord</c> is <c>kinesis:PutRecord</c>), resources with case.
/// A resource-based policy (<see cref="ParseResourcePolicy"/>) also names in each statement the principals it applies to.
/// </summary>
public sealed class AccessPolicy
{
    public const string AdministratorDocument = """{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}""";

    public static readonly AccessPolicy Administrator = Parse(AdministratorDocument);

    public static readonly AccessPolicy Nothing = new([]);

    private readonly Statement[] _statements;

    private AccessPolicy(Statement[] statements) => _statements = statements;

    /// <param name="Principals">Null in an identity policy (the statement is about its own key).</param>
    private sealed record Statement(bool Allow, string[] Actions, string[] Resources, PolicyPrincipals? Principals);

    /// <summary>Parses an identity policy; a malformed one throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static AccessPolicy Parse(string document) => Parse(document, resourcePolicy: false);

    /// <summary>
    /// Parses a resource-based policy: every statement needs a Principal. Conditions and the Not- forms are refused
    /// rather than ignored, since ignoring them would widen what a statement allows.
    /// </summary>
    public static AccessPolicy ParseResourcePolicy(string document) => Parse(document, resourcePolicy: true);

    private static AccessPolicy Parse(string document, bool resourcePolicy)
    {
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(document);
        }
        catch (JsonException e)
        {
            throw new FormatException($"The policy is not valid JSON: {e.Message}");
        }
        using (json)
        {
            if (json.RootElement.ValueKind != JsonValueKind.Object || !json.RootElement.TryGetProperty("Statement", out var statements))
                throw new FormatException("The policy needs a Statement member.");
            var list = new List<Statement>();
            foreach (var statement in statements.ValueKind == JsonValueKind.Array ? statements.EnumerateArray().ToArray() : [statements])
            {
                if (statement.ValueKind != JsonValueKind.Object)
                    throw new FormatException("Each statement must be an object.");
                var effect = statement.TryGetProperty("Effect", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
                if (effect is not ("Allow" or "Deny"))
                    throw new FormatException("Each statement needs an Effect of Allow or Deny.");
                PolicyPrincipals? principals = null;
                if (resourcePolicy)
                {
                    foreach (var unsupported in (string[])["Condition", "NotPrincipal", "NotAction", "NotResource"])
                    {
                        if (statement.TryGetProperty(unsupported, out _))
                            throw new FormatException($"The policy element {unsupported} is not supported.");
                    }
                    principals = statement.TryGetProperty("Principal", out var principal)
                        ? PolicyPrincipals.Parse(principal)
                        : throw new FormatException("Each statement of a resource-based policy needs a Principal.");
                }
                list.Add(new Statement(effect == "Allow", Strings(statement, "Action"), Strings(statement, "Resource"), principals));
            }
            return new AccessPolicy([.. list]);
        }
    }

    private static string[] Strings(JsonElement statement, string member)
    {
        if (!statement.TryGetProperty(member, out var value))
            throw new FormatException($"Each statement needs {member} (a string or a list of strings).");
        if (value.ValueKind == JsonValueKind.String)
            return [value.GetString()!];
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() > 0 && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String))
            return [.. value.EnumerateArray().Select(v => v.GetString()!)];
        throw new FormatException($"{member} must be a string or a non-empty list of strings.");
    }

    /// <summary>Allowed, denied explicitly, or allowed by nothing.</summary>
    /// <param name="caller">The calling principal, which a resource-based policy's statements must name; ignored by an identity policy.</param>
    public PolicyDecision Decide(string action, string resource, PolicyCaller? caller = null)
    {
        var allowed = false;
        foreach (var statement in _statements)
        {
            if (!AnyMatch(statement.Actions, action, ignoreCase: true) || !AnyMatch(statement.Resources, resource, ignoreCase: false))
                continue;
            if (statement.Principals is { } principals && (caller is null || !principals.Covers(caller, statement.Allow)))
                continue;
            if (!statement.Allow)
                return PolicyDecision.ExplicitDeny;
            allowed = true;
        }
        return allowed ? PolicyDecision.Allow : PolicyDecision.ImplicitDeny;
    }

    /// <summary>
    /// The decision when every statement naming <paramref name="action"/> covers all resources (<c>"*"</c>), so
    /// the caller need not work out which resource a request touches; null when the resource matters.
    /// </summary>
    public PolicyDecision? DecideForAnyResource(string action)
    {
        foreach (var statement in _statements)
        {
            if (AnyMatch(statement.Actions, action, ignoreCase: true) && !statement.Resources.Contains("*"))
                return null;
        }
        return Decide(action, "*");
    }

    /// <summary>Whether any statement of a resource-based policy denies <paramref name="action"/> to <paramref name="caller"/>, on whatever resource.</summary>
    public bool MayDeny(string action, PolicyCaller caller)
    {
        foreach (var statement in _statements)
        {
            if (!statement.Allow && AnyMatch(statement.Actions, action, ignoreCase: true)
                && (statement.Principals is null || statement.Principals.Covers(caller, allow: false)))
                return true;
        }
        return false;
    }

    /// <summary>Whether every statement's Resource covers <paramref name="resource"/> (a resource policy may speak of its own resource only).</summary>
    public bool OnlyAbout(string resource)
    {
        foreach (var statement in _statements)
        {
            if (!AnyMatch(statement.Resources, resource, ignoreCase: false))
                return false;
        }
        return true;
    }

    private static bool AnyMatch(string[] patterns, string value, bool ignoreCase)
    {
        foreach (var pattern in patterns)
        {
            if (Wildcard.Matches(pattern, value, ignoreCase))
                return true;
        }
        return false;
    }
}

public enum PolicyDecision
{
    Allow,
    ImplicitDeny,
    ExplicitDeny,
}

/// <summary>IAM's glob: <c>*</c> is any run of characters (also none), <c>?</c> any one character.</summary>
public static class Wildcard
{
    public static bool Matches(string pattern, string value, bool ignoreCase)
    {
        int p = 0, v = 0, star = -1, resume = 0;
        while (v < value.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || Same(pattern[p], value[v], ignoreCase)))
            {
                p++;
                v++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = v;
            }
            else if (star >= 0)
            {
                // Backtrack: let the last star swallow one more character.
                p = star + 1;
                v = ++resume;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
            p++;
        return p == pattern.Length;
    }

    private static bool Same(char a, char b, bool ignoreCase) =>
        a == b || (ignoreCase && char.ToLowerInvariant(a) == char.ToLowerInvariant(b));
}
