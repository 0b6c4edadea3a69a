using Runnel.Standalone;

WebApplication app;
try
{
    app = StandaloneHost.Build(args);
}
catch (StandaloneConfigurationException e)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}
await StandaloneHost.PrepareAsync(app);
await app.RunAsync();
return 0;
