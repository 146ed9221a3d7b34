namespace Gateway.Domain;

/// <summary>
/// A key id of the form the gateway makes ("key_" and 20 base62 characters) as two numbers of 10 digits each, 16
/// bytes inside the cached key where the string costs 80 (its reference and a 72-byte object): with a million keys
/// cached, 64 MB. An id of any other form (one written by hand into an import, or by another system) cannot be
/// packed and stays a string.
/// </summary>
/// <remarks>
/// The text is made again when a request asks for it. The most recent few thousand are kept, found by the two
/// numbers, so the stages of one request (identity header, usage, last used, the request log) and the requests of
/// a key in use share one string and allocate nothing; usage counting's per-thread shortcut compares it by reference.
/// </remarks>
internal readonly struct PackedKeyId
{
    private const string Prefix = "key_";
    private const int Digits = 20;
    private const int HalfDigits = 10;
    // The domain depends on no feature, so not Keys' Base62: the same alphabet, in the same order.
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    // 62^10 - 1 < 2^60, so a packed half never reaches it: the mark of "not packed".
    private const ulong NotPacked = ulong.MaxValue;

    private static readonly Text?[] Recent = new Text?[1 << RecentBits];
    private const int RecentBits = 12;

    private readonly ulong _high;
    private readonly ulong _low;

    private PackedKeyId(ulong high, ulong low)
    {
        _high = high;
        _low = low;
    }

    /// <summary>The value for an id that could not be packed.</summary>
    public static PackedKeyId None => new(NotPacked, NotPacked);

    public bool IsPacked => _high != NotPacked;

    /// <summary>Packs <paramref name="id"/> when it is "key_" and exactly 20 base62 characters.</summary>
    public static bool TryPack(string id, out PackedKeyId packed)
    {
        packed = None;
        if (id.Length != Prefix.Length + Digits || !id.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var digits = id.AsSpan(Prefix.Length);
        if (!TryDecode(digits[..HalfDigits], out var high) || !TryDecode(digits[HalfDigits..], out var low))
        {
            return false;
        }

        packed = new PackedKeyId(high, low);
        return true;
    }

    /// <summary>The id as text: the same string instance as long as it stays among the recent ones.</summary>
    public string ToText()
    {
        if (!IsPacked)
        {
            throw new InvalidOperationException("The id is not packed.");
        }

        // Fibonacci hashing of both halves: ids are random, but a slot index from one half alone would still do.
        var slot = (int)(((_high * 31) ^ _low) * 0x9E3779B97F4A7C15UL >> (64 - RecentBits));
        var recent = Volatile.Read(ref Recent[slot]);
        if (recent is not null && recent.High == _high && recent.Low == _low)
        {
            return recent.Value;
        }

        // Another thread may write the slot at the same time; either string is the id, and the slot holds one.
        var made = new Text(_high, _low, Format(_high, _low));
        Volatile.Write(ref Recent[slot], made);
        return made.Value;
    }

    private static string Format(ulong high, ulong low) =>
        string.Create(Prefix.Length + Digits, (high, low), static (chars, halves) =>
        {
            Prefix.AsSpan().CopyTo(chars);
            Encode(halves.high, chars.Slice(Prefix.Length, HalfDigits));
            Encode(halves.low, chars.Slice(Prefix.Length + HalfDigits, HalfDigits));
        });

    private static void Encode(ulong value, Span<char> destination)
    {
        for (var i = destination.Length - 1; i >= 0; i--)
        {
            destination[i] = Alphabet[(int)(value % 62)];
            value /= 62;
        }
    }

    private static bool TryDecode(ReadOnlySpan<char> digits, out ulong value)
    {
        value = 0;
        foreach (var c in digits)
        {
            int digit = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'A' and <= 'Z' => c - 'A' + 10,
                >= 'a' and <= 'z' => c - 'a' + 36,
                _ => -1,
            };
            if (digit < 0)
            {
                return false;
            }

            value = (value * 62) + (ulong)digit;
        }

        return true;
    }

    private sealed class Text(ulong high, ulong low, string value)
    {
        public ulong High { get; } = high;

        public ulong Low { get; } = low;

        public string Value { get; } = value;
    }
}
