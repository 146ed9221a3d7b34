using System.Collections.Concurrent;
using Gateway.Auth;
using Gateway.Http;

namespace Gateway.Usage;

/// <summary>
/// In-process request counters per subject, minute and outcome. A request costs one interlocked
/// increment, no lock and no store call, and usually no dictionary lookup either (see
/// <see cref="LastSubject"/>); <see cref="UsageFlusher"/> drains the counters into the store in batches.
/// </summary>
/// <remarks>
/// <para>
/// A subject has one entry for as long as it is in use, holding two minutes' counts (the current minute, and the
/// one before until a drain has taken it) in slots it reuses. A bucket per subject and minute, as these counters
/// used to keep, made a new dictionary node and array for every key in use every minute, each living about three
/// minutes: with 100,000 keys in use, 20 MB a minute reaching the oldest GC generation and over 100 MiB of the
/// process (docs/performance.md).
/// </para>
/// <para>
/// The first count into an entry since the last drain queues it, so a drain visits only the entries that have
/// counts. Entries idle for more than two minutes are dropped by a walk, once a minute.
/// </para>
/// </remarks>
internal sealed class UsageCounters(TimeProvider time)
{
    // Entries whose newest minute is older than this many minutes are dropped once they hold nothing.
    private const long IdleMinutesBeforeRemoval = 2;

    /// <summary>
    /// Minutes after a subject's record was handed to the store in full during which its later records of the same
    /// hour are <see cref="UsageRecord.Continued"/>. A store keeps a subject's counts per hour (Redis: a hash per
    /// subject and hour, whose expiry and index entries are the same for every minute of it), so writing them once a
    /// minute was a Redis command or more per request with many keys in use, each seeing a request or two a minute.
    /// Once every ten minutes still lets a Redis that lost its data index such a hash again within ten minutes.
    /// </summary>
    internal const long FullWriteEveryMinutes = 10;

    // The subject this thread counted into last. A kept-alive client sends request after request with one
    // key, so most requests find their entry here by reference instead of hashing the subject and org id
    // into the dictionary. An entry dropped meanwhile is recognised by its slot (below) and looked up again.
    [ThreadStatic]
    private static LastSubject? t_last;

    /// <summary>
    /// The route the verify API's calls without a key to name are counted under. In parentheses, which a route id of
    /// the configuration could hold, so the proxy refuses a route of this id (RouteMetadataValidator): its requests
    /// and verify calls would otherwise add up in one row of the routes report.
    /// </summary>
    internal const string VerifyRoute = "(verify)";

    private readonly ConcurrentDictionary<Subject, SubjectCounts> _subjects = new();

    /// <summary>
    /// Held by a flush from <see cref="Drain"/> until the store has the batch (or it is restored), and by a usage
    /// report from its store read until it has added <see cref="Snapshot"/>: between a flush's two steps the drained
    /// counts are in neither place a report looks, and a report then showed totals a few requests short.
    /// </summary>
    /// <remarks>Never disposed: a flush can run after the host has disposed its services, and a
    /// SemaphoreSlim without a wait handle holds nothing to release.</remarks>
    public SemaphoreSlim HandOver { get; } = new(1, 1);

    private readonly ConcurrentQueue<SubjectCounts> _queued = new();

    // Counts no entry slot holds: a batch the store refused, or a minute whose slot was needed again before a
    // drain took it (a flush interval over a minute, or a clock set back). Rare, so a plain dictionary under a lock.
    private readonly Dictionary<(Subject Subject, long Minute), long[]> _leftovers = [];
    private long _sweptMinute;

    /// <summary>Counts a finished proxy request under its key, or under its route when no key was identified.</summary>
    /// <param name="clientAborted">The client went away before the answer began; once the upstream's answer has begun, its status decides.</param>
    public void Record(HttpContext context, bool clientAborted = false)
    {
        int outcome;
        if (clientAborted)
        {
            outcome = UsageOutcomes.ClientAbortedIndex;
        }
        else if (context.Feature<ProblemCodeFeature>() is { Code: { } code })
        {
            outcome = UsageOutcomes.IndexOf(code);
            if (outcome < 0)
            {
                return;
            }
        }
        else
        {
            outcome = context.Response.StatusCode >= StatusCodes.Status500InternalServerError ? UsageOutcomes.Upstream5xxIndex : UsageOutcomes.AllowedIndex;
        }

        var key = context.Feature<IApiKeyFeature>()?.Key ?? context.Feature<RefusedKeyFeature>()?.Key;
        if (key is not null)
        {
            Add(UsageSubjectKind.Key, key.Id, key.OrgId, outcome);
        }
        else
        {
            Add(UsageSubjectKind.Route, context.ProxyFeature().Route.Config.RouteId, null, outcome);
        }
    }

    /// <summary>
    /// Counts a charged verify call (<c>POST /v1/keys/verify</c>) as a proxied request would be counted: under the key it
    /// answered about, or, when it named none (<c>invalid_key</c>, <c>store_unavailable</c>), under <see cref="VerifyRoute"/>.
    /// </summary>
    /// <param name="code">The problem code it answered; null when valid.</param>
    public void RecordVerify(string? keyId, string? orgId, string? code)
    {
        var outcome = code is null ? UsageOutcomes.AllowedIndex : UsageOutcomes.IndexOf(code);
        if (outcome < 0)
        {
            return;
        }

        if (keyId is not null)
        {
            Add(UsageSubjectKind.Key, keyId, orgId, outcome);
        }
        else
        {
            Add(UsageSubjectKind.Route, VerifyRoute, null, outcome);
        }
    }

    public void Add(UsageSubjectKind kind, string subject, string? orgId, int outcome, long count = 1)
    {
        // The minute the request finished, not when it was let in.
        var minute = time.GetUtcNow().UtcTicks / TimeSpan.TicksPerMinute;
        var last = t_last;
        SubjectCounts entry;
        if (last is not null && ReferenceEquals(last.Owner, this) && last.Kind == kind
            && ReferenceEquals(last.Text, subject) && ReferenceEquals(last.OrgId, orgId))
        {
            entry = last.Entry!;
        }
        else
        {
            entry = _subjects.GetOrAdd(new Subject(kind, subject, orgId), static s => new SubjectCounts(s));
            (t_last ??= new LastSubject()).Set(this, kind, subject, orgId, entry);
        }

        // Lock-free when the slot already holds this minute: its minute changes only when the slot is taken for
        // another (two minutes later, as a rule), and the entry is dropped only when its newest minute is two minutes past.
        if (entry.MinuteOf(minute) != minute)
        {
            TakeSlot(ref entry, minute);
        }

        Interlocked.Add(ref entry.Count(minute, outcome), count);
        if (Volatile.Read(ref entry.Queued) == 0 && Interlocked.CompareExchange(ref entry.Queued, 1, 0) == 0)
        {
            _queued.Enqueue(entry);
        }
    }

    /// <summary>Takes every count recorded since the last drain; the counters keep running meanwhile.</summary>
    public List<UsageRecord> Drain()
    {
        // Only the entries queued when the drain began: one counted again meanwhile is queued anew, for the next drain.
        var queued = _queued.Count;
        var batch = new List<UsageRecord>(queued);
        for (var n = 0; n < queued && _queued.TryDequeue(out var entry); n++)
        {
            // Unflagged before the counts are taken: a count added after this queues the entry again
            // (whether or not this drain took it), so none is left behind unqueued.
            Interlocked.Exchange(ref entry.Queued, 0);
            lock (entry)
            {
                entry.AddRecords(batch, take: true);
            }
        }

        lock (_leftovers)
        {
            foreach (var ((subject, minute), counts) in _leftovers)
            {
                batch.Add(subject.Record(minute, counts));
            }

            _leftovers.Clear();
        }

        RemoveIdle();
        return batch;
    }

    /// <summary>Puts back a batch the store did not take, so the next flush retries it.</summary>
    public void Restore(IEnumerable<UsageRecord> batch)
    {
        lock (_leftovers)
        {
            foreach (var record in batch)
            {
                Leave(new Subject(record.Kind, record.Subject, record.OrgId), record.Start.UtcTicks / TimeSpan.TicksPerMinute, record.Counts);
            }
        }
    }

    /// <summary>Counts not yet flushed, for the admin API to add to what the store holds.</summary>
    public IEnumerable<UsageRecord> Snapshot()
    {
        var records = new List<UsageRecord>();
        foreach (var entry in _subjects.Values)
        {
            lock (entry)
            {
                entry.AddRecords(records, take: false);
            }
        }

        lock (_leftovers)
        {
            records.AddRange(_leftovers.Select(pair => pair.Key.Subject.Record(pair.Key.Minute, [.. pair.Value])));
        }

        return records;
    }

    /// <summary>Subjects held right now (for tests).</summary>
    internal int SubjectCount => _subjects.Count;

    // Points the minute's slot at it, under the entry's lock, after moving the counts of the minute it held that no
    // drain took aside (a flush interval over a minute, or a clock set back). An entry dropped meanwhile is replaced
    // by the dictionary's current one.
    private void TakeSlot(ref SubjectCounts entry, long minute)
    {
        while (true)
        {
            lock (entry)
            {
                if (!entry.Removed)
                {
                    var held = entry.MinuteOf(minute);
                    if (held != minute && entry.Reset(minute) is { } unsent)
                    {
                        lock (_leftovers)
                        {
                            Leave(entry.Subject, held, unsent);
                        }
                    }

                    return;
                }
            }

            var subject = entry.Subject;
            entry = _subjects.GetOrAdd(subject, static s => new SubjectCounts(s));
            t_last?.Set(this, subject.Kind, subject.Text, subject.OrgId, entry);
        }
    }

    // Under _leftovers' lock.
    private void Leave(Subject subject, long minute, long[] counts)
    {
        if (!_leftovers.TryGetValue((subject, minute), out var held))
        {
            _leftovers[(subject, minute)] = held = new long[UsageOutcomes.Count];
        }

        for (var i = 0; i < held.Length; i++)
        {
            held[i] += counts[i];
        }
    }

    /// <summary>Once a minute, drops the entries no request has counted into for more than two minutes.</summary>
    private void RemoveIdle()
    {
        var currentMinute = time.GetUtcNow().UtcTicks / TimeSpan.TicksPerMinute;
        if (currentMinute == _sweptMinute)
        {
            return;
        }

        _sweptMinute = currentMinute;
        foreach (var (subject, entry) in _subjects)
        {
            lock (entry)
            {
                if (entry.NewestMinute < currentMinute - IdleMinutesBeforeRemoval && Volatile.Read(ref entry.Queued) == 0 && entry.IsEmpty)
                {
                    entry.Removed = true;
                    _subjects.TryRemove(subject, out _);
                }
            }
        }
    }

    private readonly record struct Subject(UsageSubjectKind Kind, string Text, string? OrgId)
    {
        public UsageRecord Record(long minute, long[] counts, bool continued = false) =>
            new(Kind, Text, OrgId, new DateTimeOffset(minute * TimeSpan.TicksPerMinute, TimeSpan.Zero), counts) { Continued = continued };
    }

    /// <summary>
    /// One subject's counts of two minutes, minute m in slot m % 2. The allowed count, nearly every request's, is a
    /// field of its own; the other outcomes get an array once the subject has one.
    /// </summary>
    private sealed class SubjectCounts(Subject subject)
    {
        public readonly Subject Subject = subject;

        // 1 while queued for the next drain.
        public int Queued;

        // Set under the lock when the entry leaves the dictionary.
        public bool Removed;

        // Whether a drain already took counts of the minute the slot holds: the next record of it is Continued.
        // Counts a drain took and the store then refused come back as leftovers, whose records are never Continued.
        private bool _drained0;
        private bool _drained1;

        // The minute of the last record a drain took that was not Continued (the store wrote it in full).
        private long _fullMinute = long.MinValue;

        private long _minute0 = long.MinValue;
        private long _minute1 = long.MinValue;
        private long _allowed0;
        private long _allowed1;
        private long[]? _others;

        public long NewestMinute => Math.Max(_minute0, _minute1);

        public bool IsEmpty => _allowed0 == 0 && _allowed1 == 0 && (_others is null || Array.TrueForAll(_others, c => c == 0));

        public long MinuteOf(long minute) => Volatile.Read(ref MinuteIn(SlotOf(minute)));

        public ref long Count(long minute, int outcome)
        {
            var slot = SlotOf(minute);
            if (outcome == UsageOutcomes.AllowedIndex)
            {
                return ref AllowedIn(slot);
            }

            var others = Volatile.Read(ref _others);
            if (others is null)
            {
                Interlocked.CompareExchange(ref _others, new long[2 * UsageOutcomes.Count], null);
                others = _others;
            }

            return ref others[(slot * UsageOutcomes.Count) + outcome];
        }

        /// <summary>Under the lock: the slot now holds <paramref name="minute"/>; what it held and no drain took is returned.</summary>
        public long[]? Reset(long minute)
        {
            var slot = SlotOf(minute);
            var unsent = Read(slot, take: true);
            DrainedIn(slot) = false;
            Volatile.Write(ref MinuteIn(slot), minute);
            return unsent;
        }

        /// <summary>Under the lock: each slot's counts as records, taken out of the slots or (for a snapshot) left in them.</summary>
        public void AddRecords(List<UsageRecord> records, bool take)
        {
            for (var slot = 0; slot < 2; slot++)
            {
                if (Read(slot, take) is { } counts)
                {
                    var minute = MinuteIn(slot);
                    var continued = take && (DrainedIn(slot) || WrittenInFullLately(minute));
                    records.Add(Subject.Record(minute, counts, continued));
                    if (take)
                    {
                        DrainedIn(slot) = true;
                        if (!continued)
                        {
                            _fullMinute = minute;
                        }
                    }
                }
            }
        }

        // Same hour, and at most FullWriteEveryMinutes after the full write (never before it: a clock set back).
        private bool WrittenInFullLately(long minute) =>
            _fullMinute != long.MinValue && minute >= _fullMinute && minute - _fullMinute < FullWriteEveryMinutes && minute / 60 == _fullMinute / 60;

        private long[]? Read(int slot, bool take)
        {
            long[]? counts = null;
            ReadOne(ref AllowedIn(slot), UsageOutcomes.AllowedIndex, take, ref counts);
            if (Volatile.Read(ref _others) is { } others)
            {
                for (var i = 0; i < UsageOutcomes.Count; i++)
                {
                    ReadOne(ref others[(slot * UsageOutcomes.Count) + i], i, take, ref counts);
                }
            }

            return counts;
        }

        private static int SlotOf(long minute) => (int)(minute & 1);

        private ref long MinuteIn(int slot) => ref slot == 0 ? ref _minute0 : ref _minute1;

        private ref long AllowedIn(int slot) => ref slot == 0 ? ref _allowed0 : ref _allowed1;

        private ref bool DrainedIn(int slot) => ref slot == 0 ? ref _drained0 : ref _drained1;

        private static void ReadOne(ref long count, int outcome, bool take, ref long[]? counts)
        {
            if (Volatile.Read(ref count) != 0)
            {
                counts ??= new long[UsageOutcomes.Count];
                counts[outcome] = take ? Interlocked.Exchange(ref count, 0) : Volatile.Read(ref count);
            }
        }
    }

    /// <summary>
    /// A thread's last subject, its strings compared by reference rather than by <see cref="Subject"/>'s value
    /// equality. Only ever read and written by its own thread, and overwritten rather than replaced, so a
    /// thread serving many keys does not allocate one per request.
    /// </summary>
    private sealed class LastSubject
    {
        public UsageCounters? Owner;
        public UsageSubjectKind Kind;
        public string? Text;
        public string? OrgId;
        public SubjectCounts? Entry;

        public void Set(UsageCounters owner, UsageSubjectKind kind, string text, string? orgId, SubjectCounts entry)
        {
            Owner = owner;
            Kind = kind;
            Text = text;
            OrgId = orgId;
            Entry = entry;
        }
    }
}
