using System.Security.Cryptography;
using System.Text;

namespace Gateway.Admin;

/// <summary>Requires <c>Authorization: Bearer &lt;Admin:Token&gt;</c>, compared in constant time.</summary>
internal sealed class AdminTokenFilter(AdminToken token) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var header = context.HttpContext.Request.Headers.Authorization;
        if (header.Count == 1
            && header[0] is { Length: > 7 } value
            && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && Matches(value.AsSpan(7), token.Value))
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
