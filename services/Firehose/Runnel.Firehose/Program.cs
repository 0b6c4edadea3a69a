using Runnel.Firehose;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Internal;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRunnelInternalEndpoint(servesInternalRoutes: true);
builder.AddFirehose();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapFirehose();
app.Run();
