namespace Runnel.Ingest.Resharding;

/// <summary>Asks a worker to run the next step of a resharding operation (whatever its row says that is).</summary>
public sealed record AdvanceReshard(Guid OperationId);
