using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Gateway.Observability;

/// <summary>
/// Serves this host's <see cref="System.Diagnostics.Metrics"/> instruments as Prometheus text (format 0.0.4).
/// A <see cref="MeterListener"/> takes the gateway meter only from this host's <see cref="IMeterFactory"/>
/// (so a second host in the same process is not counted here) and the process-wide runtime meter.
/// Counters and histograms are cumulative since start, as Prometheus expects; series never expire,
/// so a scrape never misses a request.
/// </summary>
internal sealed class PrometheusMetrics : IDisposable
{
    /// <summary>The runtime's own meter (CPU, GC, heap, thread pool): per process, so every host shows it.</summary>
    public const string RuntimeMeterName = "System.Runtime";

    private static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private readonly IMeterFactory _factory;
    private readonly MeterListener _listener;
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _instruments = new();
    private readonly Lock _scrape = new();

    public PrometheusMetrics(IMeterFactory factory)
    {
        _factory = factory;
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (Includes(instrument))
                {
                    var state = new InstrumentState(instrument);
                    _instruments[instrument] = state;
                    listener.EnableMeasurementEvents(instrument, state);
                }
            },
            MeasurementsCompleted = (instrument, _) => _instruments.TryRemove(instrument, out InstrumentState? _),
        };
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.Start();
    }

    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>The exposition text: every series of every instrument, sorted by metric name.</summary>
    public string Scrape()
    {
        var text = new StringBuilder(4096);
        lock (_scrape)
        {
            _listener.RecordObservableInstruments();
            foreach (var state in _instruments.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
            {
                state.Write(text);
            }
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private bool Includes(Instrument instrument) =>
        (instrument.Meter.Name == GatewayMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, _factory))
        || instrument.Meter.Name == RuntimeMeterName;

    /// <summary>The Prometheus name of an instrument: dots become underscores, the unit a suffix, counters end in <c>_total</c>.</summary>
    internal static string MetricName(Instrument instrument)
    {
        var name = Sanitize(instrument.Name);
        name += instrument.Unit switch
        {
            "s" => "_seconds",
            "ms" => "_milliseconds",
            "By" => "_bytes",
            _ => "",
        };
        return IsCounter(instrument) ? name + "_total" : name;
    }

    private static bool IsCounter(Instrument instrument)
    {
        var type = instrument.GetType();
        return type.IsGenericType && type.GetGenericTypeDefinition() is var definition
            && (definition == typeof(Counter<>) || definition == typeof(ObservableCounter<>));
    }

    private static string Sanitize(string name)
    {
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (!(char.IsAsciiLetterOrDigit(chars[i]) || chars[i] is '_' or ':'))
            {
                chars[i] = '_';
            }
        }

        return new string(chars);
    }

    /// <summary>Tag values of one series. Up to three tags need no allocation to look up; more are joined into <see cref="Rest"/>.</summary>
    private readonly record struct SeriesKey(string? N0, string? V0, string? N1, string? V1, string? N2, string? V2, string? Rest)
    {
        public static SeriesKey Of(ReadOnlySpan<KeyValuePair<string, object?>> tags) => tags.Length switch
        {
            0 => default,
            1 => new(tags[0].Key, Text(tags[0].Value), null, null, null, null, null),
            2 => new(tags[0].Key, Text(tags[0].Value), tags[1].Key, Text(tags[1].Value), null, null, null),
            3 => new(tags[0].Key, Text(tags[0].Value), tags[1].Key, Text(tags[1].Value), tags[2].Key, Text(tags[2].Value), null),
            _ => new(null, null, null, null, null, null, Join(tags)),
        };

        public IEnumerable<(string Name, string Value)> Labels()
        {
            if (Rest is not null)
            {
                foreach (var pair in Rest.Split('\u0001'))
                {
                    var split = pair.IndexOf('\u0002', StringComparison.Ordinal);
                    yield return (pair[..split], pair[(split + 1)..]);
                }

                yield break;
            }

            if (N0 is not null)
            {
                yield return (N0, V0!);
            }

            if (N1 is not null)
            {
                yield return (N1, V1!);
            }

            if (N2 is not null)
            {
                yield return (N2, V2!);
            }
        }

        private static string Text(object? value) => value as string ?? Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";

        private static string Join(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var parts = new string[tags.Length];
            for (var i = 0; i < tags.Length; i++)
            {
                parts[i] = tags[i].Key + '\u0002' + Text(tags[i].Value);
            }

            Array.Sort(parts, StringComparer.Ordinal);
            return string.Join('\u0001', parts);
        }
    }

    /// <summary>Up to three tags compared by reference: the same series as <see cref="SeriesKey"/> when the strings are the same instances.</summary>
    private readonly struct SeriesReference(string? n0, string? v0, string? n1, string? v1, string? n2, string? v2) : IEquatable<SeriesReference>
    {
        private readonly string? _n0 = n0, _v0 = v0, _n1 = n1, _v1 = v1, _n2 = n2, _v2 = v2;

        /// <summary>False for more than three tags or a value that is not a string (a boxed number is a new object every time).</summary>
        public static bool TryOf(ReadOnlySpan<KeyValuePair<string, object?>> tags, out SeriesReference reference)
        {
            reference = default;
            foreach (var tag in tags)
            {
                if (tag.Value is not (string or null))
                {
                    return false;
                }
            }

            switch (tags.Length)
            {
                case 0:
                    return true;
                case 1:
                    reference = new(tags[0].Key, (string?)tags[0].Value, null, null, null, null);
                    return true;
                case 2:
                    reference = new(tags[0].Key, (string?)tags[0].Value, tags[1].Key, (string?)tags[1].Value, null, null);
                    return true;
                case 3:
                    reference = new(tags[0].Key, (string?)tags[0].Value, tags[1].Key, (string?)tags[1].Value, tags[2].Key, (string?)tags[2].Value);
                    return true;
                default:
                    return false;
            }
        }

        public bool Equals(SeriesReference other) =>
            ReferenceEquals(_n0, other._n0) && ReferenceEquals(_v0, other._v0)
            && ReferenceEquals(_n1, other._n1) && ReferenceEquals(_v1, other._v1)
            && ReferenceEquals(_n2, other._n2) && ReferenceEquals(_v2, other._v2);

        public override bool Equals(object? obj) => obj is SeriesReference other && Equals(other);

        public override int GetHashCode() => HashCode.Combine(
            RuntimeHelpers.GetHashCode(_n0), RuntimeHelpers.GetHashCode(_v0),
            RuntimeHelpers.GetHashCode(_n1), RuntimeHelpers.GetHashCode(_v1),
            RuntimeHelpers.GetHashCode(_n2), RuntimeHelpers.GetHashCode(_v2));
    }

    private sealed class Cell(int buckets)
    {
        public readonly long[] Buckets = new long[buckets];
        public long Count;
        public double Sum;

        /// <summary>The total of a counter of whole numbers: one atomic add per measurement, where a double needs a compare-and-swap loop.</summary>
        public long WholeSum;

        public double Value => Volatile.Read(ref Sum) + Interlocked.Read(ref WholeSum);

        public void Add(double value)
        {
            double seen, next;
            do
            {
                seen = Volatile.Read(ref Sum);
                next = seen + value;
            }
            while (Interlocked.CompareExchange(ref Sum, next, seen) != seen);
        }
    }

    private sealed class InstrumentState
    {
        // The callers pass the same string instances for a series every time (literals, route ids from
        // the configuration), so most measurements find their cell by reference, without hashing or comparing
        // the text. Bounded, because a caller that formats its values anew would otherwise fill it up.
        private const int MaxSeriesByReference = 1024;

        private readonly ConcurrentDictionary<SeriesKey, Cell> _series = new();
        private readonly ConcurrentDictionary<SeriesReference, Cell> _seriesByReference = new();
        private int _seriesByReferenceCount;
        private readonly Instrument _instrument;
        private readonly string _type;
        private readonly bool _histogram;
        private readonly bool _observable;
        private readonly double[] _bounds;

        public InstrumentState(Instrument instrument)
        {
            _instrument = instrument;
            Name = MetricName(instrument);
            _observable = instrument.IsObservable;
            var definition = instrument.GetType().GetGenericTypeDefinition();
            _type = IsCounter(instrument) ? "counter" : definition == typeof(Histogram<>) ? "histogram" : "gauge";
            _histogram = _type == "histogram";
            _bounds = _histogram
                ? (instrument as Histogram<double>)?.Advice?.HistogramBucketBoundaries?.ToArray() ?? DefaultBuckets
                : [];
        }

        public string Name { get; }

        /// <summary>A whole-number measurement: counted exactly, without the floating-point loop, unless it is a histogram's or an observation.</summary>
        public void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (_histogram || _observable)
            {
                Record((double)value, tags);
                return;
            }

            Interlocked.Add(ref CellFor(tags).WholeSum, value);
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var cell = CellFor(tags);
            if (_histogram)
            {
                var bucket = 0;
                while (bucket < _bounds.Length && value > _bounds[bucket])
                {
                    bucket++;
                }

                if (bucket < _bounds.Length)
                {
                    Interlocked.Increment(ref cell.Buckets[bucket]);
                }

                Interlocked.Increment(ref cell.Count);
                cell.Add(value);
            }
            else if (_observable)
            {
                // Observable instruments report their current (for counters: cumulative) value at each scrape.
                Volatile.Write(ref cell.Sum, value);
            }
            else
            {
                cell.Add(value);
            }
        }

        private Cell CellFor(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var byReference = SeriesReference.TryOf(tags, out var reference);
            if (byReference && _seriesByReference.TryGetValue(reference, out var known))
            {
                return known;
            }

            var cell = _series.GetOrAdd(SeriesKey.Of(tags), static (_, buckets) => new Cell(buckets), _bounds.Length);
            if (byReference && Volatile.Read(ref _seriesByReferenceCount) < MaxSeriesByReference && _seriesByReference.TryAdd(reference, cell))
            {
                Interlocked.Increment(ref _seriesByReferenceCount);
            }

            return cell;
        }

        public void Write(StringBuilder text)
        {
            if (_instrument.Description is { Length: > 0 } help)
            {
                text.Append("# HELP ").Append(Name).Append(' ').Append(help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n');
            }

            text.Append("# TYPE ").Append(Name).Append(' ').Append(_type).Append('\n');
            foreach (var (key, cell) in _series.OrderBy(s => s.Key.ToString(), StringComparer.Ordinal))
            {
                if (!_histogram)
                {
                    Sample(text, Name, key, null, cell.Value);
                    continue;
                }

                long cumulative = 0;
                for (var i = 0; i < _bounds.Length; i++)
                {
                    cumulative += Interlocked.Read(ref cell.Buckets[i]);
                    Sample(text, Name + "_bucket", key, _bounds[i].ToString("R", CultureInfo.InvariantCulture), cumulative);
                }

                var count = Interlocked.Read(ref cell.Count);
                Sample(text, Name + "_bucket", key, "+Inf", count);
                Sample(text, Name + "_sum", key, null, Volatile.Read(ref cell.Sum));
                Sample(text, Name + "_count", key, null, count);
            }
        }

        private static void Sample(StringBuilder text, string name, SeriesKey key, string? le, double value)
        {
            text.Append(name);
            var first = true;
            foreach (var (label, labelValue) in key.Labels())
            {
                text.Append(first ? '{' : ',').Append(Sanitize(label)).Append("=\"").Append(Escape(labelValue)).Append('"');
                first = false;
            }

            if (le is not null)
            {
                text.Append(first ? '{' : ',').Append("le=\"").Append(le).Append('"');
                first = false;
            }

            if (!first)
            {
                text.Append('}');
            }

            text.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }

        private static string Escape(string value) =>
            value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
    }
}
