using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Stores;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.SecretScanning;

/// <summary>
/// Several reports of one token at once (GitHub sends one per repository that holds it): every report is answered
/// 200 and the key is acted on once. The race is made certain by a store that holds the reports' writes of the key
/// until all of them have read it, then lets them write one at a time.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class ConcurrentLeakReportTests(StoreKind store) : GatewayFixture(store)
{
    private const string Path = "/_gateway/secret-scanning";
    private const int Reports = 4;
    private readonly ECDsa _github = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly KeyEventLog _events = new();
    private RacingStore _store = null!;

    protected override Dictionary<string, string?> Settings(string upstream)
    {
        var settings = GatewayHost.Routes(upstream, ("all", "/{**rest}", []));
        settings["Gateway:SecretScanning:Enabled"] = "true";
        settings["Gateway:SecretScanning:PublicKeys:gh-key-1"] = _github.ExportSubjectPublicKeyInfoPem();
        return settings;
    }

    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<IGatewayStore>(sp => _store = new RacingStore(Store == StoreKind.Redis
            ? ActivatorUtilities.CreateInstance<Gateway.Stores.Redis.RedisGatewayStore>(sp)
            : ActivatorUtilities.CreateInstance<Gateway.Stores.Sqlite.SqliteGatewayStore>(sp)));
        services.AddSingleton<IKeyEvents>(_events);
    }

    [OneTimeTearDown]
    public void DisposeKey() => _github.Dispose();

    [Test]
    public async Task Reports_SameKeyAtOnce_AllAnswered200AndTheKeyRevokedOnce()
    {
        var (org, key, id, _, _) = await OrgWithKeysAsync();
        var other = Plaintext(await Host.CreateKeyAsync(org, new { name = "worker" }));
        _store.Race(id, Reports);

        // Each report also names a second key after the contested one: it must be handled in every report too.
        var responses = await Task.WhenAll(Enumerable.Range(0, Reports).Select(_ => PostAsync(Report(key, other))));

        foreach (var (status, body) in responses)
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), body);
            var feedback = JsonNode.Parse(body)!.AsArray();
            Assert.That(feedback.Select(f => f!.Str("token_hash")), Is.EqualTo(new[] { Hash(key), Hash(other) }));
            Assert.That(feedback.Select(f => f!.Str("label")), Is.EqualTo(new[] { "true_positive", "true_positive" }));
        }

        Assert.That(_store.Conflicts, Is.EqualTo(Reports - 1), "the race did not happen");
        Assert.That((await Host.AdminGetAsync($"admin/keys/{id}")).Str("status"), Is.EqualTo("revoked"));
        Assert.That(await Host.CodeAsync(key), Is.EqualTo("key_revoked"));
        Assert.That(await Host.CodeAsync(other), Is.EqualTo("key_revoked"));
        Assert.That(await LeakedEntriesAsync(org, id), Is.EqualTo(1));
        Assert.That(_events.For(id), Is.EqualTo(new[] { "key.create", "key.leaked", "key.revoke" }));
    }

    [Test]
    public async Task Reports_SameDefaultKeyAtOnce_RotatedOnce()
    {
        var (org, _, _, defaultKey, defaultId) = await OrgWithKeysAsync();
        var before = await Host.AdminGetAsync($"admin/keys/{defaultId}");
        _store.Race(defaultId, Reports);

        var responses = await Task.WhenAll(Enumerable.Range(0, Reports).Select(_ => PostAsync(Report(defaultKey))));

        foreach (var (status, body) in responses)
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), body);
            Assert.That(JsonNode.Parse(body)!.AsArray().Single()!.Str("label"), Is.EqualTo("true_positive"));
        }

        Assert.That(_store.Conflicts, Is.EqualTo(Reports - 1), "the race did not happen");
        var after = await Host.AdminGetAsync($"admin/keys/{defaultId}");
        Assert.That(after.Str("status"), Is.EqualTo("active"));
        Assert.That(after.Str("prefix"), Is.Not.EqualTo(before.Str("prefix")));
        Assert.That(await Host.CodeAsync(defaultKey), Is.EqualTo("invalid_key"));
        Assert.That(await LeakedEntriesAsync(org, defaultId), Is.EqualTo(1));
        Assert.That(_events.For(defaultId), Is.EqualTo(new[] { "key.leaked", "key.rotate" }));
    }

    [Test]
    public async Task AdminLeakedKeys_SameKeyAtOnce_OneHandledTheRestAlreadyHandled()
    {
        var (org, key, id, _, _) = await OrgWithKeysAsync();
        _store.Race(id, Reports);

        var responses = await Task.WhenAll(Enumerable.Range(0, Reports).Select(async _ =>
        {
            using var response = await Host.Admin.PostAsJsonAsync("admin/leaked-keys", new { tokens = new[] { key } });
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        foreach (var (status, body) in responses)
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), body);
        }

        var items = responses.Select(r => JsonNode.Parse(r.Body)!["items"]!.AsArray().Single()!).ToList();
        Assert.That(items.Select(i => i.Str("label")), Is.All.EqualTo("true_positive"));
        Assert.That(items.Select(i => i.Str("outcome")).Order(), Is.EqualTo(new[] { "already_handled", "already_handled", "already_handled", "handled" }));
        Assert.That((await Host.AdminGetAsync($"admin/keys/{id}")).Str("status"), Is.EqualTo("revoked"));
        Assert.That(await LeakedEntriesAsync(org, id), Is.EqualTo(1));
        Assert.That(_events.For(id), Is.EqualTo(new[] { "key.create", "key.leaked", "key.revoke" }));
    }

    [Test]
    public async Task Report_KeyChangingOnEveryTry_Returns503ProblemAfterBoundedTries()
    {
        var (org, key, id, _, _) = await OrgWithKeysAsync();
        _store.RefuseWrites(id);
        try
        {
            var (status, body, retryAfter, contentType) = await PostWithHeadersAsync(Report(key));

            Assert.That(status, Is.EqualTo(HttpStatusCode.ServiceUnavailable), body);
            Assert.That(contentType, Is.EqualTo("application/problem+json"));
            Assert.That(JsonNode.Parse(body)!.Str("code"), Is.EqualTo("reports_busy"));
            Assert.That(retryAfter, Is.EqualTo("1"));
            Assert.That(_store.Refused, Is.EqualTo(KeyManager.LeakAttempts), "a lost race is tried again, a few times");

            // The admin API answers a concurrent change as every admin write does: 409 conflict, retry the call.
            using var admin = await Host.Admin.PostAsJsonAsync("admin/leaked-keys", new { tokens = new[] { key } });
            Assert.That(admin.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That((await GatewayHost.ProblemAsync(admin)).Str("code"), Is.EqualTo("conflict"));
        }
        finally
        {
            _store.RefuseWrites(null);
        }

        Assert.That((await Host.AdminGetAsync($"admin/keys/{id}")).Str("status"), Is.EqualTo("active"));
        Assert.That(await LeakedEntriesAsync(org, id), Is.Zero);
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static string Report(params string[] tokens) =>
        new JsonArray(tokens.Select(t => (JsonNode)new JsonObject { ["token"] = t, ["type"] = "gateway_api_key", ["url"] = "https://github.com/octo/app/blob/abc/config.yml", ["source"] = "content" }).ToArray()).ToJsonString();

    private async Task<(HttpStatusCode Status, string Body)> PostAsync(string body)
    {
        var (status, text, _, _) = await PostWithHeadersAsync(body);
        return (status, text);
    }

    private async Task<(HttpStatusCode Status, string Body, string? RetryAfter, string? ContentType)> PostWithHeadersAsync(string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        using var request = new HttpRequestMessage(HttpMethod.Post, Path) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.Add("GITHUB-PUBLIC-KEY-IDENTIFIER", "gh-key-1");
        request.Headers.Add("GITHUB-PUBLIC-KEY-SIGNATURE", Convert.ToBase64String(_github.SignData(bytes, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)));
        using var response = await Host.Proxy.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.RetryAfter?.ToString(), response.Content.Headers.ContentType?.MediaType);
    }

    private async Task<(string Org, string Key, string Id, string DefaultKey, string DefaultId)> OrgWithKeysAsync()
    {
        var created = await NewOrgWithDefaultKeyAsync();
        var org = created.Str("id");
        var key = await Host.CreateKeyAsync(org, new { name = "server" });
        return (org, Plaintext(key), Id(key), created.DefaultKey(), created.DefaultKeyId());
    }

    private async Task<int> LeakedEntriesAsync(string org, string keyId)
    {
        var audit = await Host.AdminGetAsync($"admin/audit?org={org}&limit=100");
        return audit["items"]!.AsArray().Count(e => e!.Str("action") == KeyManager.LeakedAction && e.Str("keyId") == keyId);
    }

    /// <summary>
    /// A real store that, once raced on a key, holds that key's next <c>writers</c> updates until all of them have
    /// arrived (so every writer read the same version), then lets them through one at a time: the first lands, the
    /// others fail as a lost race does. Later updates (a retry) pass straight through. Or it refuses every update of
    /// one key, as a key that some other writer changes between every read and write.
    /// </summary>
    private sealed class RacingStore(IGatewayStore inner) : DelegatingGatewayStore(inner)
    {
        private readonly Lock _gate = new();
        private Task _lastWriter = Task.CompletedTask;
        private string? _raced;
        private int _waiting;
        private TaskCompletionSource _allArrived = new();
        private int _conflicts;
        private int _refused;
        private volatile string? _refusedKey;

        public int Conflicts => Volatile.Read(ref _conflicts);

        public int Refused => Volatile.Read(ref _refused);

        public void Race(string keyId, int writers)
        {
            lock (_gate)
            {
                _raced = keyId;
                _waiting = writers;
                _conflicts = 0;
                _allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        public void RefuseWrites(string? keyId)
        {
            _refused = 0;
            _refusedKey = keyId;
        }

        public override async Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken)
        {
            if (key.Id == _refusedKey)
            {
                Interlocked.Increment(ref _refused);
                throw StoreConcurrencyException.KeyChanged(key.Id);
            }

            Task? arrived = null;
            lock (_gate)
            {
                if (key.Id == _raced && _waiting > 0)
                {
                    arrived = _allArrived.Task;
                    if (--_waiting == 0)
                    {
                        _raced = null;
                        _allArrived.TrySetResult();
                    }
                }
            }

            if (arrived is null)
            {
                await Inner.UpdateKeyAsync(key, expectedVersion, audit, cancellationToken);
                return;
            }

            await arrived.WaitAsync(TimeSpan.FromSeconds(20), cancellationToken);
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task previous;
            lock (_gate)
            {
                previous = _lastWriter;
                _lastWriter = done.Task;
            }

            await previous;
            try
            {
                await Inner.UpdateKeyAsync(key, expectedVersion, audit, cancellationToken);
            }
            catch (StoreConcurrencyException)
            {
                Interlocked.Increment(ref _conflicts);
                throw;
            }
            finally
            {
                done.SetResult();
            }
        }
    }

    /// <summary>The key events the gateway announces (what webhooks are told), per key.</summary>
    private sealed class KeyEventLog : IKeyEvents
    {
        private readonly ConcurrentQueue<(string Action, string KeyId)> _events = new();

        public Task KeyChangedAsync(string action, ApiKeyRecord key, CancellationToken cancellationToken)
        {
            _events.Enqueue((action, key.Id));
            return Task.CompletedTask;
        }

        public string[] For(string keyId) => [.. _events.Where(e => e.KeyId == keyId).Select(e => e.Action)];
    }
}
