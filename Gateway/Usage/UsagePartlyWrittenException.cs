namespace Gateway.Usage;

/// <summary>
/// A store wrote a batch in parts and stopped at one that failed: the records in <see cref="Unwritten"/> were not
/// sent, the others were written or are the store's to send again (a part whose outcome it cannot know). The flusher
/// keeps only the unwritten ones for the next flush, so a retry does not count the other parts twice.
/// </summary>
public sealed class UsagePartlyWrittenException(IReadOnlyList<UsageRecord> unwritten, Exception innerException)
    : Exception($"{unwritten.Count} usage records were not written.", innerException)
{
    public IReadOnlyList<UsageRecord> Unwritten { get; } = unwritten;

    /// <summary>
    /// Records the store holds to send again, sent once without an answer (so perhaps written): with
    /// <see cref="InDoubtRequests"/>, what the flusher reports as pending besides <see cref="Unwritten"/>, and as
    /// neither written nor lost when an outage outlasts shutdown.
    /// </summary>
    public int InDoubtRecords { get; init; }

    /// <summary>The requests counted in <see cref="InDoubtRecords"/>.</summary>
    public long InDoubtRequests { get; init; }
}
