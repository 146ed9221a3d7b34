using System.Security.Cryptography;
using System.Text;
using Gateway.Http;

namespace Gateway.Admin;

/// <summary>Requires <c>Authorization: Bearer &lt;Admin:Token&gt;</c>, compared in constant time.</summary>
internal sealed class AdminTokenFilter(AdminToken token) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        // The same strict parsing as the proxy's key check: one header, "Bearer", one space, no whitespace in the token.
        if (BearerToken.TryParse(context.HttpContext.Request.Headers.Authorization, out var presented) == BearerParseResult.Ok
            && Matches(presented, token.Value))
        {
            return next(context);
        }

        return ValueTask.FromResult<object?>(AdminProblems.Unauthorized());
    }

    private static bool Matches(ReadOnlySpan<char> presented, string expected)
    {
        // Hash both sides so the comparison takes the same time whatever the lengths.
        Span<byte> a = stackalloc byte[32];
        Span<byte> b = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(presented.ToArray()), a);
        SHA256.HashData(Encoding.UTF8.GetBytes(expected), b);
        return CryptographicOperations.FixedTimeEquals(a, b);
    }
}
