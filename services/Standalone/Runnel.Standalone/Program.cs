using Runnel.Standalone;

var app = StandaloneHost.Build(args);
await StandaloneHost.PrepareAsync(app);
await app.RunAsync();
