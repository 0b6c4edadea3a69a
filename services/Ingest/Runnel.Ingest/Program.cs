using Runnel.Ingest;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Internal;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRunnelInternalEndpoint(servesInternalRoutes: false);
builder.AddIngest();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapIngest();
app.Run();
