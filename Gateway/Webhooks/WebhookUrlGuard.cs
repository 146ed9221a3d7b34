using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Gateway.Http;
using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

/// <summary>Resolves webhook host names; replaceable so tests can play a DNS that changes its answer (rebinding).</summary>
internal interface IWebhookDns
{
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}

internal sealed class SystemWebhookDns : IWebhookDns
{
    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) => Dns.GetHostAddressesAsync(host, cancellationToken);
}

/// <summary>
/// Webhook URLs are chosen by organization admins, so they are a way into the gateway's own networks (SSRF). This
/// guard refuses loopback, link-local (cloud metadata at 169.254.169.254), private, shared (CGNAT), unspecified,
/// multicast and reserved addresses, IPv4 hidden in IPv6 (mapped, NAT64, IPv4-compatible, 6to4; Teredo refused), unless
/// <c>Gateway:Webhooks:AllowPrivateNetworks</c>; and always the gateway's own listeners. It runs twice: on the URL
/// when a webhook is created or changed, and in <see cref="ConnectAsync"/> on the address actually connected to, after
/// the delivery's own DNS lookup, so a name that resolves elsewhere later (DNS rebinding) is caught. Deliveries follow
/// no redirects.
/// </summary>
internal sealed class WebhookUrlGuard(IOptionsMonitor<WebhookOptions> options, Listeners listeners, IWebhookDns dns)
{
    private static readonly (IPAddress Network, int Prefix)[] Refused =
    [
        (IPAddress.Parse("0.0.0.0"), 8),
        (IPAddress.Parse("10.0.0.0"), 8),
        (IPAddress.Parse("100.64.0.0"), 10),
        (IPAddress.Parse("127.0.0.0"), 8),
        (IPAddress.Parse("169.254.0.0"), 16),
        (IPAddress.Parse("172.16.0.0"), 12),
        (IPAddress.Parse("192.0.0.0"), 24),
        (IPAddress.Parse("192.0.2.0"), 24),
        (IPAddress.Parse("192.168.0.0"), 16),
        (IPAddress.Parse("198.18.0.0"), 15),
        (IPAddress.Parse("198.51.100.0"), 24),
        (IPAddress.Parse("203.0.113.0"), 24),
        (IPAddress.Parse("224.0.0.0"), 4),
        (IPAddress.Parse("240.0.0.0"), 4),
        (IPAddress.Parse("::"), 128),
        (IPAddress.Parse("::1"), 128),
        (IPAddress.Parse("fc00::"), 7),
        (IPAddress.Parse("fe80::"), 10),
        (IPAddress.Parse("fec0::"), 10),
        (IPAddress.Parse("ff00::"), 8),
        (IPAddress.Parse("2001:db8::"), 32),
        (IPAddress.Parse("100::"), 64),
        // Teredo hides its IPv4 addresses (the client's XORed), so it cannot be judged by them.
        (IPAddress.Parse("2001::"), 32),
    ];

    private static readonly IPAddress Nat64 = IPAddress.Parse("64:ff9b::");
    private static readonly IPAddress IPv4Compatible = IPAddress.Parse("::");
    private static readonly IPAddress SixToFour = IPAddress.Parse("2002::");

    /// <summary>Why <paramref name="url"/> may not be a webhook URL, or null when it may.</summary>
    public async Task<string?> RefuseUrlAsync(string url, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            return "The URL must be absolute.";
        }

        var allowHttp = options.CurrentValue.AllowHttp;
        if (uri.Scheme != Uri.UriSchemeHttps && !(allowHttp && uri.Scheme == Uri.UriSchemeHttp))
        {
            return allowHttp ? "The URL must use https or http." : "The URL must use https.";
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            return "The URL must not carry a user name or password.";
        }

        if (uri.Port is < 1 or > 65535)
        {
            return "The URL's port must be from 1 to 65535.";
        }

        IPAddress[] addresses;
        try
        {
            addresses = uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6
                ? [IPAddress.Parse(uri.IdnHost)]
                : await dns.ResolveAsync(uri.IdnHost, cancellationToken);
        }
        catch (SocketException)
        {
            return $"The host '{uri.Host}' does not resolve.";
        }

        if (addresses.Length == 0)
        {
            return $"The host '{uri.Host}' does not resolve.";
        }

        foreach (var address in addresses)
        {
            if (Refuse(address, uri.Port) is { } reason)
            {
                return $"The host '{uri.Host}' resolves to {address}, {reason}.";
            }
        }

        return null;
    }

    /// <summary>Why a delivery may not connect to <paramref name="address"/>:<paramref name="port"/>, or null when it may.</summary>
    public string? Refuse(IPAddress address, int port)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        else if (address.AddressFamily == AddressFamily.InterNetworkV6 && InNetwork(address, Nat64, 96))
        {
            // NAT64 carries an IPv4 address in its last 32 bits: judge that one.
            address = new IPAddress(address.GetAddressBytes()[12..]);
        }
        else if (address.AddressFamily == AddressFamily.InterNetworkV6 && InNetwork(address, IPv4Compatible, 96)
            && !address.Equals(IPAddress.IPv6Any) && !address.Equals(IPAddress.IPv6Loopback))
        {
            // The deprecated IPv4-compatible form (::127.0.0.1) too: some stacks still route it to the IPv4 address.
            address = new IPAddress(address.GetAddressBytes()[12..]);
        }
        else if (address.AddressFamily == AddressFamily.InterNetworkV6 && InNetwork(address, SixToFour, 16))
        {
            // 6to4 (2002:AABB:CCDD::/48) names the IPv4 address AA.BB.CC.DD of its relay.
            address = new IPAddress(address.GetAddressBytes()[2..6]);
        }

        if (IsOwnListener(address, port))
        {
            return "a listener of this gateway";
        }

        if (options.CurrentValue.AllowPrivateNetworks)
        {
            return null;
        }

        foreach (var (network, prefix) in Refused)
        {
            if (InNetwork(address, network, prefix))
            {
                return "a loopback, link-local, private or reserved address";
            }
        }

        return null;
    }

    /// <summary>
    /// The <see cref="SocketsHttpHandler.ConnectCallback"/> of the delivery client: resolves the host itself, connects
    /// only to an allowed address, and checks the connected peer once more.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var endpoint = context.DnsEndPoint;
        var addresses = IPAddress.TryParse(endpoint.Host, out var literal) ? [literal] : await dns.ResolveAsync(endpoint.Host, cancellationToken);
        string? reason = null;
        foreach (var address in addresses)
        {
            reason = Refuse(address, endpoint.Port);
            if (reason is not null)
            {
                continue;
            }

            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endpoint.Port), cancellationToken);
                if (socket.RemoteEndPoint is IPEndPoint connected && Refuse(connected.Address, connected.Port) is { } late)
                {
                    throw new WebhookAddressRefusedException($"Connected to {connected.Address}, {late}.");
                }

                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new WebhookAddressRefusedException(reason is null
            ? $"The host '{endpoint.Host}' does not resolve."
            : $"The host '{endpoint.Host}' resolves only to refused addresses ({reason}).");
    }

    private bool IsOwnListener(IPAddress address, int port)
    {
        if (port != listeners.AdminPort && port != listeners.ProxyPort)
        {
            return false;
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return true;
        }

        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                .Any(a => a.Address.Equals(address));
        }
        catch (NetworkInformationException)
        {
            return false;
        }
    }

    private static bool InNetwork(IPAddress address, IPAddress network, int prefix)
    {
        if (address.AddressFamily != network.AddressFamily)
        {
            return false;
        }

        var a = address.GetAddressBytes();
        var n = network.GetAddressBytes();
        var full = prefix / 8;
        for (var i = 0; i < full; i++)
        {
            if (a[i] != n[i])
            {
                return false;
            }
        }

        var rest = prefix % 8;
        if (rest == 0)
        {
            return true;
        }

        var mask = (byte)(0xFF << (8 - rest));
        return (a[full] & mask) == (n[full] & mask);
    }
}

/// <summary>A delivery refused because its host resolved to an address webhooks may not reach.</summary>
internal sealed class WebhookAddressRefusedException(string message) : Exception(message);
