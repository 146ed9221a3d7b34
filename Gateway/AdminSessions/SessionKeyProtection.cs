using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Stores;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.Options;

namespace Gateway.AdminSessions;

internal static class SessionKeyProtection
{
    /// <summary>The Redis list (under the store's prefix) that holds the Data Protection key ring.</summary>
    public const string RedisKeySuffix = "dataprotection-keys";

    /// <summary>The directory next to the SQLite file that holds the key ring.</summary>
    public const string DirectoryName = "dataprotection-keys";

    /// <summary>
    /// Data Protection (which encrypts the session cookie and the sign-in's state) with its key ring in
    /// the store, so every instance and every restart reads the same keys, and each key encrypted with AES-GCM under a key
    /// derived from the bootstrap admin token, so the ring at rest (a Redis dump, a backup of the data directory) holds
    /// no usable key.
    /// </summary>
    public static IServiceCollection AddGatewayDataProtection(this IServiceCollection services)
    {
        services.AddDataProtection().SetApplicationName("Gateway");
        services.TryAddSingleton<SessionKeyEncryptionKey>();
        services.TryAddFeatureStore<ISessionKeyRing, PrivateDirectoryXmlRepository, RedisSessionKeyRing>();
        services.AddOptions<KeyManagementOptions>().Configure<IServiceProvider>((options, sp) =>
        {
            options.XmlEncryptor = new AesGcmXmlEncryptor(sp.GetRequiredService<SessionKeyEncryptionKey>());
            options.XmlRepository = sp.GetRequiredService<ISessionKeyRing>();
        });
        return services;
    }

    public static string DirectoryFor(GatewayOptions options) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.Store.Path)) ?? ".", DirectoryName);

    private static void TryAddSingleton<T>(this IServiceCollection services)
        where T : class => Microsoft.Extensions.DependencyInjection.Extensions.ServiceCollectionDescriptorExtensions.TryAddSingleton<T>(services);
}

/// <summary>
/// The key that encrypts the Data Protection keys: HKDF-SHA256 of the bootstrap admin token (at least 32 characters
/// with enough entropy, or generated). Instances that share a store share the bootstrap token, so they share this key;
/// changing the token makes the old keys unreadable, which ends every console session.
/// </summary>
internal sealed class SessionKeyEncryptionKey(AdminToken token)
{
    private static readonly byte[] Salt = "Gateway Data Protection key encryption"u8.ToArray();
    private static readonly byte[] Info = "aes-256-gcm v1"u8.ToArray();

    private readonly Lazy<byte[]> _key = new(() => HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(token.Value), 32, Salt, Info));

    public byte[] Value => _key.Value;
}

/// <summary>Encrypts a Data Protection key element with AES-256-GCM (random 96-bit nonce, the version as associated data).</summary>
internal sealed class AesGcmXmlEncryptor(SessionKeyEncryptionKey key) : IXmlEncryptor
{
    internal const string ElementName = "gatewayEncryptedKey";
    internal static readonly byte[] AssociatedData = "gateway-dataprotection-v1"u8.ToArray();

    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        var plaintext = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var nonce = RandomNumberGenerator.GetBytes(AesGcm.NonceByteSizes.MaxSize);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[AesGcm.TagByteSizes.MaxSize];
        using (var aes = new AesGcm(key.Value, tag.Length))
        {
            aes.Encrypt(nonce, plaintext, ciphertext, tag, AssociatedData);
        }

        CryptographicOperations.ZeroMemory(plaintext);
        var element = new XElement(
            ElementName,
            new XAttribute("version", "1"),
            new XAttribute("nonce", Convert.ToBase64String(nonce)),
            new XAttribute("tag", Convert.ToBase64String(tag)),
            Convert.ToBase64String(ciphertext));
        return new EncryptedXmlInfo(element, typeof(AesGcmXmlDecryptor));
    }
}

/// <summary>Created by Data Protection from the type name in the key file, with the application's services.</summary>
internal sealed class AesGcmXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement)
    {
        if (encryptedElement.Name != AesGcmXmlEncryptor.ElementName || (string?)encryptedElement.Attribute("version") != "1")
        {
            throw new CryptographicException("Not a Gateway-encrypted Data Protection key.");
        }

        var nonce = Convert.FromBase64String((string?)encryptedElement.Attribute("nonce") ?? "");
        var tag = Convert.FromBase64String((string?)encryptedElement.Attribute("tag") ?? "");
        var ciphertext = Convert.FromBase64String(encryptedElement.Value);
        var plaintext = new byte[ciphertext.Length];
        using (var aes = new AesGcm(services.GetRequiredService<SessionKeyEncryptionKey>().Value, AesGcm.TagByteSizes.MaxSize))
        {
            // Throws (AuthenticationTagMismatchException) for another bootstrap token or an altered file.
            aes.Decrypt(nonce, ciphertext, tag, plaintext, AesGcmXmlEncryptor.AssociatedData);
        }

        try
        {
            return XElement.Parse(Encoding.UTF8.GetString(plaintext));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }
}

/// <summary>Where the Data Protection key ring is kept: beside the key store, so instances that share a store share it.</summary>
internal interface ISessionKeyRing : IXmlRepository;

/// <summary>
/// The key ring as files next to the SQLite file, in a directory only the gateway's user may enter (0700), each file 0600,
/// written to a temporary name and renamed so a reader never sees half a key. Data Protection's own file repository leaves
/// both to the umask.
/// </summary>
internal sealed class PrivateDirectoryXmlRepository(IOptions<GatewayOptions> options) : ISessionKeyRing
{
    private readonly string _directory = SessionKeyProtection.DirectoryFor(options.Value);

    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public string Directory => _directory;

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        if (!System.IO.Directory.Exists(_directory))
        {
            return [];
        }

        return System.IO.Directory.EnumerateFiles(_directory, "*.xml")
            .Order(StringComparer.Ordinal)
            .Select(path => XElement.Load(path))
            .ToList();
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(_directory);
        }
        else
        {
            System.IO.Directory.CreateDirectory(_directory, DirectoryMode);
            File.SetUnixFileMode(_directory, DirectoryMode);
        }

        var name = IsSafe(friendlyName) ? friendlyName : Guid.NewGuid().ToString("N");
        var temporary = Path.Combine(_directory, Guid.NewGuid().ToString("N") + ".tmp");
        var streamOptions = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            streamOptions.UnixCreateMode = FileMode;
        }

        using (var stream = new FileStream(temporary, streamOptions))
        {
            element.Save(stream);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, Path.Combine(_directory, name + ".xml"), overwrite: false);
    }

    private static bool IsSafe(string name) => name.Length is > 0 and <= 100 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
