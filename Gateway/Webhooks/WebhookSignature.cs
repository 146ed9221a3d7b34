using System.Security.Cryptography;
using System.Text;

namespace Gateway.Webhooks;

/// <summary>
/// Standard Webhooks signing (https://www.standardwebhooks.com): <c>webhook-signature: v1,&lt;base64 HMAC-SHA256 of
/// "{id}.{timestamp}.{body}"&gt;</c>, keyed by the base64-decoded part of the <c>whsec_</c> secret.
/// </summary>
internal static class WebhookSignature
{
    public const string SecretPrefix = "whsec_";
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";

    /// <summary>A new secret: 32 random bytes, base64, after <c>whsec_</c>.</summary>
    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static string Sign(string secret, string id, long timestamp, string body)
    {
        var key = Convert.FromBase64String(secret[SecretPrefix.Length..]);
        var content = Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}");
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, content));
    }
}
