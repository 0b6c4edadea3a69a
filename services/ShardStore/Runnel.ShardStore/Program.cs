using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Internal;
using Runnel.ShardStore;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRunnelInternalEndpoint(servesInternalRoutes: true);
builder.AddShardStore();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapShardStore();
app.Run();
