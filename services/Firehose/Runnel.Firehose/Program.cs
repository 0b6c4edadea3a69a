using Runnel.Firehose;
using Runnel.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddFirehose();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapFirehose();
app.Run();
