using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Runnel.ServiceDefaults;

public static class MessagingExtensions
{
    /// <summary>
    /// Registers MassTransit: RabbitMQ when <c>ConnectionStrings:RabbitMq</c> is set
    /// (<c>amqp://user:pass@host:port/vhost</c>), in-memory otherwise, which is what Standalone uses.
    /// <paramref name="configure"/> adds consumers, sagas and their definitions.
    /// MassTransit adds its own bus health check, tagged <c>ready</c>.
    /// </summary>
    public static TBuilder AddRunnelMessaging<TBuilder>(this TBuilder builder, Action<IBusRegistrationConfigurator>? configure = null)
        where TBuilder : IHostApplicationBuilder
    {
        var rabbit = builder.Configuration.GetConnectionString("RabbitMq");
        builder.Services.AddMassTransit(x =>
        {
            // MassTransit 8.4+ posts a usage report to its vendor a few minutes after the bus starts; a self-hosted
            // platform makes no outbound call its operator did not configure.
            x.DisableUsageTelemetry();
            x.SetKebabCaseEndpointNameFormatter();
            configure?.Invoke(x);
            if (string.IsNullOrWhiteSpace(rabbit))
            {
                x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            }
            else
            {
                var uri = new Uri(rabbit, UriKind.Absolute);
                var (user, password) = Credentials(uri);
                x.UsingRabbitMq((context, cfg) =>
                {
                    var vhost = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
                    cfg.Host(uri.Host, (ushort)(uri.IsDefaultPort || uri.Port < 0 ? 5672 : uri.Port), vhost.Length == 0 ? "/" : vhost, h =>
                    {
                        h.Username(user);
                        h.Password(password);
                    });
                    cfg.ConfigureEndpoints(context);
                });
            }
        });
        return builder;
    }

    private static (string User, string Password) Credentials(Uri uri)
    {
        // No built-in default: the broker's guest account would otherwise be tried, which a deployment must not rely on.
        if (string.IsNullOrEmpty(uri.UserInfo))
        {
            throw new InvalidOperationException("ConnectionStrings:RabbitMq names no user: give amqp://user:password@host:port/vhost (the chart reads it from a Secret).");
        }
        var parts = uri.UserInfo.Split(':', 2);
        return (Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
    }
}
