namespace Gateway.Cli;

/// <summary>
/// Keeps the body of the last answer the admin API sent, so the CLI prints that rather than the client's model of
/// it: the models carry members some answers never have (an organization's <c>defaultKey</c>, a listed token's
/// <c>token</c>), which came back out as <c>null</c>.
/// </summary>
internal sealed class AnswerRecorder(HttpMessageHandler? inner) : HttpMessageHandler
{
    // A handler the caller passed in is theirs to dispose; the one made here is ours.
    private readonly HttpMessageInvoker _invoker = new(inner ?? new HttpClientHandler(), disposeHandler: inner is null);

    /// <summary>The last answer's body as sent (empty for an answer without one, such as a delete's 204).</summary>
    public ReadOnlyMemory<byte> LastBody { get; private set; }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await _invoker.SendAsync(request, cancellationToken);

        // Buffered, the body can be read here and again by the client that deserializes it or reads its problem.
        await response.Content.LoadIntoBufferAsync(cancellationToken);
        LastBody = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        return response;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _invoker.Dispose();
        }

        base.Dispose(disposing);
    }
}
