using System.Text;
using System.Text.Json;
using Gateway.Admin;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Stores;
using Polly;
using Polly.Retry;

namespace Gateway.Webhooks;

/// <summary>
/// Where events enter the webhook outbox. Key changes arrive through <see cref="IKeyEvents"/>; quota and credit
/// events are for the quota counters to call (<see cref="QuotaThresholdReachedAsync"/>, <see cref="CreditsExhaustedAsync"/>).
/// Publishing never throws: the change that caused the event has happened either way. Quota and credit events the
/// store cannot take at once are tried again for a few minutes (a key change's event is stored before its admin call
/// answers, so that call is not held up).
/// </summary>
internal interface IWebhookPublisher
{
    /// <summary>Stores one delivery of <paramref name="type"/> for every enabled webhook of <paramref name="orgId"/> subscribed to it; <paramref name="dataJson"/> is the body's <c>data</c> member.</summary>
    Task PublishAsync(string orgId, string type, string dataJson, CancellationToken cancellationToken);

    /// <summary><c>quota.threshold</c>: a quota (of a customer, or of a key without one) reached <paramref name="percent"/> (80 or 100) of its limit.</summary>
    Task QuotaThresholdReachedAsync(string orgId, string? customerId, string? keyId, int percent, CancellationToken cancellationToken);

    /// <summary><c>credits.exhausted</c>: the key's credits reached zero.</summary>
    Task CreditsExhaustedAsync(string orgId, string keyId, CancellationToken cancellationToken);
}

internal sealed partial class WebhookPublisher(
    IWebhookStore store, IGatewayStore keys, KeyViews views, WebhookSignal signal, TimeProvider time, ILogger<WebhookPublisher> logger) : IWebhookPublisher, IKeyEvents
{
    public Task KeyChangedAsync(string action, ApiKeyRecord key, CancellationToken cancellationToken) =>
        WebhookEvents.ForKeyAction(action) is { } type ? PublishKeyAsync(key.OrgId, type, key, cancellationToken) : Task.CompletedTask;

    public async Task PublishKeyAsync(string orgId, string type, ApiKeyRecord key, CancellationToken cancellationToken)
    {
        try
        {
            await StoreAsync(orgId, type, await KeyJsonAsync(key, cancellationToken), cancellationToken);
        }
        catch (Exception ex)
        {
            Log.PublishFailed(logger, type, orgId, ex);
        }
    }

    // Quota and credit events come from a request, with nobody waiting on them, and happen once per crossing: while the
    // store cannot take the outbox entry (a Redis outage), it is tried again for about five minutes rather than lost.
    private static readonly ResiliencePipeline EventRetry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(StoreResilience.IsUnavailable),
            MaxRetryAttempts = 14,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromSeconds(1),
            MaxDelay = TimeSpan.FromSeconds(30),
        })
        .Build();

    public Task QuotaThresholdReachedAsync(string orgId, string? customerId, string? keyId, int percent, CancellationToken cancellationToken) =>
        WithRetriesAsync(orgId, WebhookEvents.QuotaThreshold, ct => StoreQuotaThresholdAsync(orgId, customerId, keyId, percent, ct), cancellationToken);

    public Task CreditsExhaustedAsync(string orgId, string keyId, CancellationToken cancellationToken) =>
        WithRetriesAsync(orgId, WebhookEvents.CreditsExhausted, ct => StoreCreditsExhaustedAsync(orgId, keyId, ct), cancellationToken);

    private async Task WithRetriesAsync(string orgId, string type, Func<CancellationToken, Task> store, CancellationToken cancellationToken)
    {
        try
        {
            await EventRetry.ExecuteAsync(async ct => await store(ct), cancellationToken);
        }
        catch (Exception ex)
        {
            Log.PublishFailed(logger, type, orgId, ex);
        }
    }

    private async Task StoreQuotaThresholdAsync(string orgId, string? customerId, string? keyId, int percent, CancellationToken cancellationToken)
    {
        var key = keyId is null ? null : await TryGetKeyAsync(keyId, cancellationToken);
        var keyJson = key is null ? null : await KeyJsonAsync(key, cancellationToken);
        var data = Json(w =>
        {
            w.WriteString("orgId", orgId);
            w.WriteString("customerId", customerId);
            w.WriteString("keyId", keyId);
            w.WriteNumber("percent", percent);
            w.WritePropertyName("key");
            if (keyJson is null)
            {
                w.WriteNullValue();
            }
            else
            {
                w.WriteRawValue(keyJson);
            }
        });
        await StoreAsync(orgId, WebhookEvents.QuotaThreshold, data, cancellationToken);
    }

    private async Task StoreCreditsExhaustedAsync(string orgId, string keyId, CancellationToken cancellationToken)
    {
        var key = await TryGetKeyAsync(keyId, cancellationToken);
        var data = key is not null ? await KeyJsonAsync(key, cancellationToken) : Json(w =>
        {
            w.WriteString("id", keyId);
            w.WriteString("orgId", orgId);
        });
        await StoreAsync(orgId, WebhookEvents.CreditsExhausted, data, cancellationToken);
    }

    public async Task PublishAsync(string orgId, string type, string dataJson, CancellationToken cancellationToken)
    {
        try
        {
            await StoreAsync(orgId, type, dataJson, cancellationToken);
        }
        catch (Exception ex)
        {
            Log.PublishFailed(logger, type, orgId, ex);
        }
    }

    private async Task StoreAsync(string orgId, string type, string dataJson, CancellationToken cancellationToken)
    {
        var hooks = await store.ListAsync(orgId, cancellationToken);
        var now = time.GetUtcNow();
        var body = Body(type, now, dataJson);
        var deliveries = hooks.Where(h => h.Enabled && h.Events.Contains(type, StringComparer.Ordinal))
            .Select(h => new WebhookDelivery("msg_" + Base62.Random(24), h.Id, orgId, type, body, WebhookDelivery.Pending, 0, now, now, null, null, null, null))
            .ToList();
        if (deliveries.Count == 0)
        {
            return;
        }

        await store.EnqueueAsync(deliveries, CancellationToken.None);
        signal.Wake();
    }

    /// <summary>The exact body sent: <c>{"type","timestamp","data"}</c>.</summary>
    public static string Body(string type, DateTimeOffset at, string dataJson) => Json(w =>
    {
        w.WriteString("type", type);
        w.WriteString("timestamp", at);
        w.WritePropertyName("data");
        w.WriteRawValue(dataJson);
    });

    /// <summary>
    /// The admin API's key object as <c>GET /admin/keys/{id}</c> shows it, with the live credit balance and last use
    /// (never a plaintext key: the record holds none).
    /// </summary>
    private async Task<string> KeyJsonAsync(ApiKeyRecord key, CancellationToken cancellationToken)
    {
        KeyDto dto;
        try
        {
            dto = await views.ViewAsync(key, cancellationToken);
        }
        catch (StoreUnavailableException)
        {
            // The event matters more than the balance in it: the key as stored, rather than no event at all.
            dto = KeyDto.From(key, time.GetUtcNow());
        }

        return JsonSerializer.Serialize(dto, AdminJsonContext.Default.KeyDto);
    }

    private async Task<ApiKeyRecord?> TryGetKeyAsync(string keyId, CancellationToken cancellationToken)
    {
        try
        {
            return await keys.GetKeyAsync(keyId, cancellationToken);
        }
        catch (StoreUnavailableException)
        {
            return null;
        }
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.WebhookPublishFailed, Level = LogLevel.Error, Message = "Webhook event {Type} of organization {Org} could not be stored in the outbox.")]
        public static partial void PublishFailed(ILogger logger, string type, string org, Exception exception);
    }
}

/// <summary>Wakes this instance's dispatcher when an event is stored, instead of waiting for the next poll.</summary>
internal sealed class WebhookSignal : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public void Wake()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _signal.WaitAsync(timeout, cancellationToken);

    public void Dispose() => _signal.Dispose();
}
