namespace Gateway.AdminSessions;

/// <summary>
/// Console sessions ended by sign-out, kept until the end their cookie could otherwise reach: a session is a cookie,
/// not a server-side record, so without this a copy of the cookie taken before sign-out stayed valid. Shared by every
/// instance through the store (a table of the embedded SQLite store, or keys under the Redis store's prefix).
/// A session is known by <see cref="EndedSessions.SessionId"/>, never by anything the cookie would let a reader use.
/// </summary>
internal interface IEndedSessionStore
{
    /// <summary>Records the session as ended until <paramref name="until"/>, after which its cookie is refused anyway.</summary>
    Task EndAsync(string sessionId, DateTimeOffset until, CancellationToken cancellationToken);

    /// <summary>Whether the session was ended and <paramref name="now"/> is before the time it was kept until.</summary>
    Task<bool> IsEndedAsync(string sessionId, DateTimeOffset now, CancellationToken cancellationToken);
}

internal static class EndedSessions
{
    /// <summary>
    /// The id a session is recorded under: the SHA-256 of its CSRF token, 256 random bits drawn at sign-in and never
    /// shared with another session. The digest, so the store never holds a value the console sends as a header.
    /// </summary>
    public static string SessionId(string csrfToken) => Domain.HashValue.HexOf(csrfToken);
}
