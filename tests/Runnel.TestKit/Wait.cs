using System.Diagnostics;

namespace Runnel.TestKit;

/// <summary>Bounded polling: tests wait for conditions, never for fixed sleeps.</summary>
public static class Wait
{
    private static readonly TimeSpan DefaultPoll = TimeSpan.FromMilliseconds(50);

    /// <summary>Polls until <paramref name="condition"/> is true; throws <see cref="TimeoutException"/> naming <paramref name="what"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, TimeSpan? poll = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition().ConfigureAwait(false))
                {
                    return;
                }

                last = null;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // A condition that throws (a server still starting) counts as not yet true.
                last = e;
            }

            if (clock.Elapsed >= timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#}s waiting for {what}." +
                    (last is null ? "" : $" Last error: {last.GetType().Name}: {last.Message}"), last);
            }

            await Task.Delay(poll ?? DefaultPoll, cancellationToken).ConfigureAwait(false);
        }
    }

    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what, TimeSpan? poll = null, CancellationToken cancellationToken = default) =>
        UntilAsync(() => Task.FromResult(condition()), timeout, what, poll, cancellationToken);

    /// <summary>Polls <paramref name="probe"/> until it returns a non-null value, and returns that value.</summary>
    public static async Task<T> ForAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string what, TimeSpan? poll = null, CancellationToken cancellationToken = default)
        where T : class
    {
        T? result = null;
        await UntilAsync(async () => (result = await probe().ConfigureAwait(false)) is not null, timeout, what, poll, cancellationToken).ConfigureAwait(false);
        return result!;
    }
}
