using Runnel.FanOut;
using Runnel.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddFanOut();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapFanOut();
app.Run();
