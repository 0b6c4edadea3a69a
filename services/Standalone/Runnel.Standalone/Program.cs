using Runnel.Standalone;

return await StandaloneHost.RunAsync(args);
