namespace Runnel.Core.Storage;

/// <summary>
/// Told when a stream's encryption changed in this process, so a shard store node in the same process (Standalone)
/// seals or stops sealing from the next append on; remote nodes notice within their key refresh interval.
/// </summary>
public interface IStreamKeyChanges
{
    void Changed(long streamId);
}
