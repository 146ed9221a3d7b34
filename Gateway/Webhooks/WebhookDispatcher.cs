using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Observability;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Gateway.Webhooks;

/// <summary>
/// Delivers the outbox: claims due deliveries (a lease, so instances sharing a store never send the same one at the
/// same time), sends each through its webhook's Polly pipeline (a few immediate retries with exponential backoff and
/// jitter, a circuit breaker per webhook so one dead receiver costs the others nothing, a timeout per attempt), and
/// writes the outcome back. A delivery that still fails goes back to the outbox with a later due time (doubling, with
/// jitter, up to <c>MaxRetryDelay</c>) until <c>RetryFor</c> has passed since the event; a webhook with no success for
/// <c>RetryFor</c> is disabled and audited. At least once: a receiver may see a delivery twice (same <c>webhook-id</c>).
/// </summary>
internal sealed partial class WebhookDispatcher : BackgroundService
{
    private const int ClaimBatch = 16;

    private readonly IWebhookStore _store;
    private readonly IOptionsMonitor<WebhookOptions> _options;
    private readonly WebhookSignal _signal;
    private readonly TimeProvider _time;
    private readonly ILogger<WebhookDispatcher> _logger;
    private readonly HttpClient _client;
    private readonly ConcurrentDictionary<string, ResiliencePipeline<HttpResponseMessage>> _pipelines = new(StringComparer.Ordinal);

    public WebhookDispatcher(IWebhookStore store, IOptionsMonitor<WebhookOptions> options, WebhookUrlGuard guard, WebhookSignal signal, TimeProvider time, ILogger<WebhookDispatcher> logger)
    {
        _store = store;
        _options = options;
        _signal = signal;
        _time = time;
        _logger = logger;
        _client = new HttpClient(new SocketsHttpHandler
        {
            // Every connection goes through the guard, on the address it resolves to now (DNS rebinding).
            ConnectCallback = guard.ConnectAsync,
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectTimeout = options.CurrentValue.Timeout,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _client.DefaultRequestHeaders.UserAgent.ParseAdd("Gateway-Webhooks/1");
    }

    public override void Dispose()
    {
        _client.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            IReadOnlyList<WebhookDelivery> claimed = [];
            try
            {
                var now = _time.GetUtcNow();
                claimed = await _store.ClaimDueAsync(now, now + _options.CurrentValue.Lease, ClaimBatch, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.DispatchFailed(_logger, ex);
            }

            if (claimed.Count > 0)
            {
                await Task.WhenAll(claimed.Select(d => DeliverAsync(d, stoppingToken)));
                continue;
            }

            try
            {
                await _signal.WaitAsync(_options.CurrentValue.PollInterval, stoppingToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                // Stopping; or a host disposed without being stopped first has already disposed the signal.
                return;
            }
        }
    }

    private async Task DeliverAsync(WebhookDelivery delivery, CancellationToken stoppingToken)
    {
        try
        {
            await AttemptAsync(delivery, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down mid-attempt: give the claim back so the next start (or another instance) sends it at once.
            await TrySaveAsync(delivery with { NextAttemptAt = _time.GetUtcNow() });
        }
        catch (Exception ex)
        {
            Log.DispatchFailed(_logger, ex);
        }
    }

    private async Task AttemptAsync(WebhookDelivery delivery, CancellationToken stoppingToken)
    {
        var hook = await _store.GetAsync(delivery.WebhookId, stoppingToken);
        if (hook is null || !hook.Enabled)
        {
            await _store.SaveDeliveryAsync(delivery with
            {
                Status = WebhookDelivery.Failed,
                LastError = hook is null ? "The webhook was deleted." : "The webhook is disabled.",
            }, CancellationToken.None);
            return;
        }

        var options = _options.CurrentValue;
        var pipeline = _pipelines.GetOrAdd(hook.Id, _ => Build(options));
        var sent = 0;
        int? status = null;
        string? error = null;
        var context = ResilienceContextPool.Shared.Get(stoppingToken);
        Outcome<HttpResponseMessage> outcome;
        try
        {
            outcome = await pipeline.ExecuteOutcomeAsync(
                async (ctx, _) =>
                {
                    sent++;
                    try
                    {
                        var response = await SendAsync(hook, delivery, ctx.CancellationToken);
                        status = (int)response.StatusCode;
                        error = response.IsSuccessStatusCode ? null : $"The receiver answered {status}.";
                        return Outcome.FromResult(response);
                    }
                    catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                    {
                        status = null;
                        error = Describe(ex);
                        return Outcome.FromException<HttpResponseMessage>(ex);
                    }
                },
                context,
                0);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            outcome = Outcome.FromException<HttpResponseMessage>(new OperationCanceledException(stoppingToken));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        if (stoppingToken.IsCancellationRequested && outcome.Result is not { IsSuccessStatusCode: true })
        {
            // Shutting down mid-claim (in a send, or waiting to retry): the sends made so far count, since the receiver
            // may have them, and the claim is given back due at once for the next start or another instance.
            outcome.Result?.Dispose();
            var stopped = _time.GetUtcNow();
            await TrySaveAsync(delivery with
            {
                Attempts = delivery.Attempts + sent,
                NextAttemptAt = stopped,
                LastAttemptAt = sent > 0 ? stopped : delivery.LastAttemptAt,
                ResponseStatus = status,
                LastError = error,
            });
            return;
        }

        var now = _time.GetUtcNow();
        using var answer = outcome.Result;
        if (answer is { IsSuccessStatusCode: true })
        {
            await _store.SaveDeliveryAsync(delivery with
            {
                Status = WebhookDelivery.Delivered,
                Attempts = delivery.Attempts + sent,
                LastAttemptAt = now,
                ResponseStatus = status,
                LastError = null,
                DeliveredAt = now,
            }, CancellationToken.None);
            Log.Delivered(_logger, delivery.Id, delivery.Type, hook.Id, delivery.Attempts + sent);
            if (hook.FailingSince is not null)
            {
                await _store.UpdateAsync(hook with { FailingSince = null }, CancellationToken.None);
            }

            return;
        }

        if (outcome.Exception is BrokenCircuitException)
        {
            error = "The webhook's circuit is open after repeated failures; not sent.";
        }

        var attempts = delivery.Attempts + sent;
        var giveUp = now - delivery.CreatedAt >= options.RetryFor;
        await _store.SaveDeliveryAsync(delivery with
        {
            Status = giveUp ? WebhookDelivery.Failed : WebhookDelivery.Pending,
            Attempts = attempts,
            NextAttemptAt = now + Backoff(options, attempts),
            LastAttemptAt = sent > 0 ? now : delivery.LastAttemptAt,
            ResponseStatus = status,
            LastError = error,
        }, CancellationToken.None);
        Log.AttemptFailed(_logger, delivery.Id, delivery.Type, hook.Id, attempts, error ?? "unknown");
        await NoteFailureAsync(hook.Id, delivery.CreatedAt, now, options);
    }

    private async Task<HttpResponseMessage> SendAsync(Webhook hook, WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, hook.Url)
        {
            Content = new StringContent(delivery.Body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(WebhookSignature.IdHeader, delivery.Id);
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(hook.Secret, delivery.Id, timestamp, delivery.Body));
        return await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    /// <summary>
    /// Starts or continues the webhook's failing streak; disables it (and audits that) once the streak reaches <c>RetryFor</c>.
    /// The streak starts when the first event it failed to take was due, so it reaches <c>RetryFor</c> no later than
    /// that delivery is given up.
    /// </summary>
    private async Task NoteFailureAsync(string hookId, DateTimeOffset due, DateTimeOffset now, WebhookOptions options)
    {
        var hook = await _store.GetAsync(hookId, CancellationToken.None);
        if (hook is null || !hook.Enabled)
        {
            return;
        }

        var since = hook.FailingSince ?? due;
        if (now - since >= options.RetryFor)
        {
            var reason = $"No successful delivery since {since.ToString("O", CultureInfo.InvariantCulture)}.";
            await _store.UpdateAsync(hook with { Enabled = false, DisabledReason = reason, FailingSince = since, UpdatedAt = now }, CancellationToken.None);
            var changes = "{\"enabled\":{\"before\":true,\"after\":false},\"webhookId\":{\"before\":null,\"after\":\"" + hook.Id + "\"}}";
            await _store.AuditAsync(new AuditEntry(AuditIds.New(), hook.OrgId, null, "webhook.disabled", "gateway", now, changes), CancellationToken.None);
            Log.Disabled(_logger, hook.Id, hook.OrgId, since);
        }
        else if (hook.FailingSince is null)
        {
            await _store.UpdateAsync(hook with { FailingSince = since }, CancellationToken.None);
        }
    }

    private async Task TrySaveAsync(WebhookDelivery delivery)
    {
        try
        {
            await _store.SaveDeliveryAsync(delivery, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.DispatchFailed(_logger, ex);
        }
    }

    /// <summary>The outbox's wait after <paramref name="attempts"/> failed sends: doubling from <c>RetryDelay</c>, at most <c>MaxRetryDelay</c>, ±25% jitter.</summary>
    internal static TimeSpan Backoff(WebhookOptions options, int attempts)
    {
        var exponent = Math.Clamp(attempts - 1, 0, 30);
        var delay = Math.Min(options.RetryDelay.TotalMilliseconds * Math.Pow(2, exponent), options.MaxRetryDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(delay * (0.75 + (Random.Shared.NextDouble() * 0.5)));
    }

    private static ResiliencePipeline<HttpResponseMessage> Build(WebhookOptions options)
    {
        var failure = new PredicateBuilder<HttpResponseMessage>()
            .Handle<HttpRequestException>(ex => ex.InnerException is not WebhookAddressRefusedException)
            .Handle<TimeoutRejectedException>()
            .HandleResult(r => !r.IsSuccessStatusCode);
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        if (options.ImmediateRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = options.ImmediateRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                MaxDelay = options.MaxRetryDelay,
                ShouldHandle = failure,
            });
        }

        return builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                FailureRatio = 0.9,
                MinimumThroughput = 10,
                SamplingDuration = TimeSpan.FromMinutes(1),
                BreakDuration = TimeSpan.FromSeconds(30),
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutRejectedException>()
                    .HandleResult(r => !r.IsSuccessStatusCode),
            })
            .AddTimeout(options.Timeout)
            .Build();
    }

    private static string Describe(Exception ex) => ex switch
    {
        TimeoutRejectedException => "The receiver did not answer in time.",
        HttpRequestException { InnerException: WebhookAddressRefusedException refused } => "Refused: " + refused.Message,
        WebhookAddressRefusedException refused => "Refused: " + refused.Message,
        HttpRequestException http => "Could not reach the receiver: " + http.Message,
        _ => ex.GetType().Name + ": " + ex.Message,
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.WebhookDelivered, Level = LogLevel.Information, Message = "Webhook delivery {DeliveryId} ({Type}) to webhook {WebhookId} delivered after {Attempts} attempts.")]
        public static partial void Delivered(ILogger logger, string deliveryId, string type, string webhookId, int attempts);

        [LoggerMessage(EventId = EventIds.WebhookAttemptFailed, Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} ({Type}) to webhook {WebhookId} failed (attempts so far: {Attempts}): {Error}")]
        public static partial void AttemptFailed(ILogger logger, string deliveryId, string type, string webhookId, int attempts, string error);

        [LoggerMessage(EventId = EventIds.WebhookEndpointDisabled, Level = LogLevel.Warning, Message = "Webhook {WebhookId} of organization {Org} disabled: no successful delivery since {Since}.")]
        public static partial void Disabled(ILogger logger, string webhookId, string org, DateTimeOffset since);

        [LoggerMessage(EventId = EventIds.WebhookDispatchFailed, Level = LogLevel.Error, Message = "Webhook dispatch failed; retried on the next poll.")]
        public static partial void DispatchFailed(ILogger logger, Exception exception);
    }
}
