namespace Gateway.SecretScanning;

/// <summary>
/// How many leaked-key report bodies are read at once. Report key identifiers are public (GitHub lists
/// them), so passing the header checks proves nothing: this cap bounds what report bodies can hold in
/// memory (<see cref="Capacity"/> times 1 MiB) however many connections arrive.
/// </summary>
internal sealed class ReportSlots
{
    public const int Capacity = 4;

    private int _inUse;

    /// <summary>Takes a slot without waiting: a report over the cap is answered at once, never queued.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _inUse) <= Capacity)
        {
            return true;
        }

        Interlocked.Decrement(ref _inUse);
        return false;
    }

    public void Exit() => Interlocked.Decrement(ref _inUse);
}
