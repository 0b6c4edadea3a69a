using Runnel.FanOut;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Internal;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRunnelInternalEndpoint(servesInternalRoutes: true);
builder.AddFanOut();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapFanOut();
app.Run();
