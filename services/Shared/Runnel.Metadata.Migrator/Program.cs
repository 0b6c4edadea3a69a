using Runnel.Metadata.Migrator;

return await MigratorCommand.RunAsync(args);
