using Runnel.Analytics;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Internal;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRunnelInternalEndpoint(servesInternalRoutes: true);
builder.AddAnalytics();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapAnalytics();
app.Run();
