namespace Runnel.ShardStore.Engine;

/// <summary>
/// A one-shot task per generation: waiters take <see cref="Next"/> BEFORE reading the state they wait on, so a
/// <see cref="Pulse"/> between their read and their await still wakes them (no lost wake-up, no polling).
/// </summary>
internal sealed class ChangeSignal
{
    private TaskCompletionSource _current = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Next => Volatile.Read(ref _current).Task;

    public void Pulse()
    {
        var fired = Interlocked.Exchange(ref _current, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        fired.TrySetResult();
    }
}
