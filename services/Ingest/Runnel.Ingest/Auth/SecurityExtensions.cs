using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Runnel.Ingest.Auth;

public static class SecurityExtensions
{
    /// <summary>
    /// The <c>Security</c> section: SigV4 over stored access keys (the default) or no authentication, the secret
    /// sealer, the authorizer and the bootstrap administrator key.
    /// </summary>
    public static IServiceCollection AddRunnelSecurity(this IServiceCollection services)
    {
        services.AddOptions<SecurityOptions>().BindConfiguration(SecurityOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.Authentication != AuthenticationMode.SigV4 || !string.IsNullOrWhiteSpace(o.MasterKey),
                "Security:MasterKey is required with Security:Authentication=SigV4: give base64 of 32 random bytes (openssl rand -base64 32), the same on every replica.")
            .Validate(o => string.IsNullOrWhiteSpace(o.BootstrapAccessKeyId) == string.IsNullOrWhiteSpace(o.BootstrapSecretAccessKey),
                "Security:BootstrapAccessKeyId and Security:BootstrapSecretAccessKey go together: set both or neither.")
            .ValidateOnStart();
        services.TryAddSingleton(sp => new SecretSealer(sp.GetRequiredService<IOptions<SecurityOptions>>().Value.MasterKey));
        services.TryAddSingleton<AccessKeyStore>();
        services.TryAddSingleton<ResourcePolicyStore>();
        services.TryAddSingleton<RequestAuthorizer>();
        services.TryAddSingleton<IRequestAuthenticator>(sp =>
            sp.GetRequiredService<IOptions<SecurityOptions>>().Value.Authentication == AuthenticationMode.SigV4
                ? ActivatorUtilities.CreateInstance<SigV4Authenticator>(sp)
                : new AllowAllAuthenticator());
        services.AddHostedService<BootstrapKeyService>();
        return services;
    }

    /// <summary>Puts every route but the Kinesis protocol and health behind the authenticator, and maps key management.</summary>
    public static WebApplication MapRunnelSecurity(this WebApplication app)
    {
        app.UseRouteAuthentication();
        app.MapAccessKeys();
        return app;
    }
}
