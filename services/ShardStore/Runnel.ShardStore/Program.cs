using Runnel.ServiceDefaults;
using Runnel.ShardStore;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddShardStore();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapShardStore();
app.Run();
