using Microsoft.Extensions.DependencyInjection;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Keys;

public sealed class KeyResolverTests
{
    private static readonly KeyDigest H1 = ApiKeyFormat.Digest("h1");
    private static readonly KeyDigest Nope = ApiKeyFormat.Digest("nope");

    private static readonly ApiKeyRecord Key = new()
    {
        Id = "key_1", OrgId = "acme", Name = "k", Prefix = "gw_live_aaaaaa", Hash = H1.ToHex(), Environment = KeyEnvironments.Production,
        Scopes = ["*"], CreatedAt = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch, Version = 1,
    };

    [Test]
    public async Task ResolveAsync_ManyConcurrentMisses_OneStoreRead()
    {
        var store = new ScriptedStore();
        var resolver = Create(store, new FakeTimeProvider(DateTimeOffset.UtcNow));

        var waiters = Enumerable.Range(0, 100).Select(_ => resolver.ResolveAsync(H1, CancellationToken.None).AsTask()).ToList();
        await store.Started.Task;
        store.Release.SetResult(Key);
        var results = await Task.WhenAll(waiters);

        Assert.That(store.Reads, Is.EqualTo(1));
        Assert.That(results, Is.All.SameAs(results[0]));
        Assert.That(results[0]!.Id, Is.EqualTo(Key.Id));
    }

    [Test]
    public async Task ResolveAsync_FreshThenStaleOnlyWhenStoreFails()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ScriptedStore();
        store.Release.SetResult(Key);
        var resolver = Create(store, time);

        var key = await resolver.ResolveAsync(H1, CancellationToken.None);
        Assert.That(key?.Id, Is.EqualTo(Key.Id));
        Assert.That(await resolver.ResolveAsync(H1, CancellationToken.None), Is.SameAs(key));
        Assert.That(store.Reads, Is.EqualTo(1), "served fresh from memory");

        time.Advance(TimeSpan.FromSeconds(6));
        store.Fail = true;
        Assert.That(await resolver.ResolveAsync(H1, CancellationToken.None), Is.SameAs(key), "stale while the store is down");

        time.Advance(TimeSpan.FromMinutes(6));
        Assert.ThrowsAsync<StoreUnavailableException>(async () => await resolver.ResolveAsync(H1, CancellationToken.None));
    }

    [Test]
    public async Task ResolveAsync_UnknownHash_NegativeCachedBriefly()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ScriptedStore();
        store.Release.SetResult(null);
        var resolver = Create(store, time);

        Assert.That(await resolver.ResolveAsync(Nope, CancellationToken.None), Is.Null);
        Assert.That(await resolver.ResolveAsync(Nope, CancellationToken.None), Is.Null);
        Assert.That(store.Reads, Is.EqualTo(1));

        time.Advance(TimeSpan.FromSeconds(3));
        store.Fail = true;
        Assert.ThrowsAsync<StoreUnavailableException>(async () => await resolver.ResolveAsync(Nope, CancellationToken.None), "an unknown key is never trusted stale");
    }

    [Test]
    public async Task Invalidate_DuringInFlightRead_DoesNotCacheTheOldRecord()
    {
        var store = new ScriptedStore();
        var resolver = Create(store, new FakeTimeProvider(DateTimeOffset.UtcNow));
        var inFlight = resolver.ResolveAsync(H1, CancellationToken.None).AsTask();
        await store.Started.Task;

        resolver.Invalidate(H1.ToHex());
        store.Release.SetResult(Key);
        await inFlight;
        await resolver.ResolveAsync(H1, CancellationToken.None);

        Assert.That(store.Reads, Is.EqualTo(2), "the read that raced the invalidation was not cached");
    }

    [Test]
    public async Task MarkAllStale_RereadsButKeepsEntriesForOutages()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ScriptedStore();
        store.Release.SetResult(Key);
        var resolver = Create(store, time);
        await resolver.ResolveAsync(H1, CancellationToken.None);

        time.Advance(TimeSpan.FromMilliseconds(1));
        resolver.MarkAllStale();
        await resolver.ResolveAsync(H1, CancellationToken.None);
        Assert.That(store.Reads, Is.EqualTo(2), "a fresh entry is read again after MarkAllStale");

        time.Advance(TimeSpan.FromMilliseconds(1));
        resolver.MarkAllStale();
        store.Fail = true;
        Assert.That((await resolver.ResolveAsync(H1, CancellationToken.None))?.Id, Is.EqualTo(Key.Id), "still the outage fallback");
    }

    [Test]
    public async Task ResolveAsync_KeysOfOneOrganization_ShareItsIdEnvironmentAndScopes()
    {
        var lookup = new Lookup(Record(0, "acme"), Record(1, "acme"), Record(2, "globex"));
        var resolver = Create(lookup, new FakeTimeProvider(DateTimeOffset.UtcNow));

        var first = (await resolver.ResolveAsync(Digest(0), CancellationToken.None))!;
        var second = (await resolver.ResolveAsync(Digest(1), CancellationToken.None))!;
        var other = (await resolver.ResolveAsync(Digest(2), CancellationToken.None))!;

        Assert.Multiple(() =>
        {
            Assert.That((first.Id, first.Name, second.Id, second.Name), Is.EqualTo(("key_0", "k0", "key_1", "k1")));
            Assert.That(second.OrgId, Is.SameAs(first.OrgId), "one organization id for both keys, though the store read it twice");
            Assert.That(second.Environment, Is.SameAs(first.Environment));
            Assert.That(second.Scopes, Is.SameAs(first.Scopes));
            Assert.That(second.ScopesHeader, Is.SameAs(first.ScopesHeader));
            Assert.That(other.OrgId, Is.EqualTo("globex"));
            Assert.That(other.Scopes, Is.Not.SameAs(first.Scopes), "another organization's keys have their own");
        });
    }

    [Test]
    public async Task ResolveAsync_MoreKeysThanMaxEntries_KeepsAtMostMaxEntries()
    {
        var lookup = new Lookup([.. Enumerable.Range(0, 30).Select(i => Record(i, "acme"))]);
        var resolver = Create(lookup, new FakeTimeProvider(DateTimeOffset.UtcNow), maxEntries: 10);
        for (var i = 0; i < 30; i++)
        {
            await resolver.ResolveAsync(Digest(i), CancellationToken.None);
        }

        for (var i = 0; i < 30; i++)
        {
            Assert.That(await resolver.ResolveAsync(Digest(i), CancellationToken.None), Is.Not.Null);
        }

        // Had more than ten stayed cached, the second round would have read the store fewer than twenty times.
        Assert.That(lookup.Reads - 30, Is.GreaterThanOrEqualTo(20));
    }

    [Test]
    public async Task Preload_InvalidatedSinceTheRead_CachesNothing_OtherwiseServedWithoutAStoreRead()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var lookup = new Lookup(Record(1, "acme"), Record(2, "acme"));
        var resolver = Create(lookup, time);

        var before = resolver.Generation;
        resolver.Invalidate(Digest(9).ToHex());
        Assert.That(resolver.Preload([Record(1, "acme")], before, time.GetUtcNow()), Is.Zero, "a change since the read: what was read may be stale");

        Assert.That(resolver.Preload([Record(2, "acme")], resolver.Generation, time.GetUtcNow()), Is.EqualTo(1));
        Assert.That((await resolver.ResolveAsync(Digest(2), CancellationToken.None))?.Id, Is.EqualTo("key_2"));
        Assert.That(lookup.Reads, Is.Zero);
        Assert.That((await resolver.ResolveAsync(Digest(1), CancellationToken.None))?.Id, Is.EqualTo("key_1"));
        Assert.That(lookup.Reads, Is.EqualTo(1));
    }

    [Test]
    public async Task Preload_KeepsWhatARequestCachedSinceTheRead_ReplacesWhatAReconnectMadeStale()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var lookup = new Lookup(Record(1, "acme"), Record(2, "acme"));
        var resolver = Create(lookup, time);
        Assert.That(resolver.Preload([Record(1, "acme")], resolver.Generation, time.GetUtcNow()), Is.EqualTo(1));

        // A reconnect: every entry is stale. A second read, begun after it, replaces the first one's entry.
        time.Advance(TimeSpan.FromMilliseconds(1));
        resolver.MarkAllStale();
        time.Advance(TimeSpan.FromMilliseconds(1));
        var readSince = time.GetUtcNow();
        var renamed = Record(1, "acme") with { Name = "renamed" };
        Assert.That(await resolver.ResolveAsync(Digest(2), CancellationToken.None), Is.Not.Null, "a request caches key 2 after the read began");
        Assert.That(resolver.Preload([renamed, Record(2, "acme") with { Name = "older" }], resolver.Generation, readSince), Is.EqualTo(1));

        Assert.That((await resolver.ResolveAsync(Digest(1), CancellationToken.None))?.Name, Is.EqualTo("renamed"));
        Assert.That((await resolver.ResolveAsync(Digest(2), CancellationToken.None))?.Name, Is.EqualTo("k2"));
        Assert.That(lookup.Reads, Is.EqualTo(1), "only the request's own read");
    }

    [Test]
    public void Preload_FillsTheCacheToNineTenths_NeverTrims()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var resolver = Create(new Lookup(), time, maxEntries: 20);

        Assert.That(resolver.WarmUpLimit, Is.EqualTo(18));
        Assert.That(resolver.Preload(Enumerable.Range(0, 30).Select(i => Record(i, "acme")).ToList(), resolver.Generation, time.GetUtcNow()), Is.EqualTo(18));
    }

    private static KeyDigest Digest(int i) => ApiKeyFormat.Digest("key " + i);

    // New strings and lists for every record, as separate store reads give them.
    private static ApiKeyRecord Record(int i, string org) => new()
    {
        Id = "key_" + i, OrgId = new string(org.AsSpan()), Name = "k" + i, Prefix = "gw_live_aaaaaa", Hash = Digest(i).ToHex(),
        Environment = new string(KeyEnvironments.Production.AsSpan()), Scopes = "read write".Split(' '),
        CreatedAt = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch, Version = 1,
    };

    private static KeyResolver Create(IKeyLookup store, TimeProvider time, int maxEntries = 100_000)
    {
        var options = Options.Create(new GatewayOptions { Cache = { MaxEntries = maxEntries } });
        return new KeyResolver(store, options, time, new StoreResilience(options, time), new GatewayMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
    }

    private sealed class Lookup(params ApiKeyRecord[] records) : IKeyLookup
    {
        private int _reads;

        public int Reads => Volatile.Read(ref _reads);

        public Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _reads);
            return Task.FromResult(records.FirstOrDefault(r => r.Hash == hash));
        }
    }

    private sealed class ScriptedStore : IKeyLookup
    {
        private int _reads;

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<ApiKeyRecord?> Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Reads => Volatile.Read(ref _reads);

        public bool Fail { get; set; }

        public async Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _reads);
            if (Fail)
            {
                throw new StoreUnavailableException("down");
            }

            Started.TrySetResult();
            return await Release.Task;
        }
    }
}
