namespace Runnel.ShardStore;

/// <summary>Marker type of the ShardStore host assembly (for WebApplicationFactory and assembly scanning).</summary>
public sealed class ShardStoreAssembly;
