namespace Runnel.FanOut.Mappings;

/// <summary>Wakes the delivery service when this process changed a mapping, instead of waiting for its next scan.</summary>
public sealed class MappingSignal
{
    private readonly SemaphoreSlim _pulse = new(0, 1);

    public void Pulse()
    {
        try
        {
            if (_pulse.CurrentCount == 0)
                _pulse.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already pulsed: the waiter wakes once either way.
        }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _pulse.WaitAsync(timeout, ct);
}
