namespace Gateway.Observability;

/// <summary>
/// Every log event id of the gateway, in one place, so operators can alert on a number that no other
/// message reuses. Hundreds group by feature: 10xx settings and admin token, 11xx authentication,
/// 12xx key usage, 13xx admin API, 14xx cross-instance key changes, 15xx rate limiting, 16xx store replication, files and outages,
/// 17xx TLS certificates, 18xx access log, 19xx usage counters, 20xx forwarding.
/// A test fails when a <c>[LoggerMessage]</c> uses an id that is not here or that another message uses.
/// </summary>
internal static class EventIds
{
    public const int AdminTokenGenerated = 1001;
    public const int AdminTokenLoaded = 1002;
    public const int AdminTokenFileNotPrivate = 1003;
    public const int OptionsReloadRejected = 1010;
    public const int SettingsFileReloadFailed = 1011;

    public const int AuthStoreUnavailable = 1100;
    public const int KeyCacheWarmed = 1110;
    public const int KeyCacheWarmUpFailed = 1111;
    public const int KeyCacheWarmUpInterrupted = 1112;
    public const int KeyCacheWarmUpStoreDamaged = 1113;

    public const int KeyUsageFlushFailed = 1200;

    public const int AdminStoreUnavailable = 1300;
    public const int AdminAuthenticationFailed = 1310;
    public const int AdminAuthenticationThrottled = 1311;
    public const int AdminAuthenticationGloballyThrottled = 1315;
    public const int AdminAuthenticationMissing = 1316;
    public const int AdminCrossSiteRefused = 1317;
    public const int OperatorTokenCreated = 1330;
    public const int OperatorTokenRevoked = 1331;
    public const int OperatorTokenUseNotRecorded = 1332;

    public const int KeyChangePublishFailed = 1400;
    public const int KeyChangeSubscribeFailed = 1401;
    public const int KeyChangesRedelivered = 1402;
    public const int KeyChangesAbandoned = 1403;

    public const int RateLimitRedisFallback = 1500;
    public const int RateLimitIpExactSetFull = 1501;

    public const int StoreReplicaNotConfirmed = 1600;
    public const int StoreReplicaWaitFailed = 1601;
    public const int StoreFilesNotPrivate = 1610;
    public const int StoreNotAnswering = 1620;
    public const int StoreAnsweringAgain = 1621;

    public const int CertificateServed = 1700;
    public const int CertificateReloaded = 1701;
    public const int CertificateReloadFailed = 1702;

    public const int AccessLogEntry = 1800;

    public const int UsageFlushFailed = 1900;
    public const int UsageCompactionFailed = 1901;
    public const int UsageLostAtShutdown = 1902;
    public const int UsageShutdownFlushRetrying = 1903;

    // Quotas and credits (RateLimiting/): 2200-2249.
    public const int QuotaThresholdReached = 2200;
    public const int CreditsExhausted = 2201;
    public const int QuotaFlushFailed = 2202;
    public const int QuotaRedisFallback = 2203;

    public const int ProxyClientBodyRefused = 2000;
    public const int ProxyClientAborted = 2001;

    public const int RequestLogWriteFailed = 2300;
    public const int RequestLogTrimFailed = 2301;
    public const int RequestLogRecord = 2302;
    public const int WebhookDelivered = 2310;
    public const int WebhookAttemptFailed = 2311;
    public const int WebhookEndpointDisabled = 2312;
    public const int WebhookPublishFailed = 2313;
    public const int WebhookDispatchFailed = 2314;
    public const int WebhookExpiryScanFailed = 2315;
    public const int WebhookAddressRefused = 2316;
    public const int AdminSignedIn = 2100;
    public const int AdminSignInRefused = 2101;
    public const int AdminSignedOut = 2102;
    public const int AdminSessionCsrfRefused = 2103;
    public const int AdminSignInReturnUrlRefused = 2104;
    public const int AdminSessionEnded = 2105;
    public const int AdminSignInProviderUnreachable = 2106;
    public const int VerifyStoreUnavailable = 2400;
    public const int VerifyGiveBackFailed = 2401;
}
