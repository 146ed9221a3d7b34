namespace Gateway.Stores.Sqlite;

internal static class SqliteSchema
{
    /// <summary>Migrations[i] brings a store from version i to i + 1; PRAGMA user_version records which ran. Append only.</summary>
    public static readonly string[] Migrations = [V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12];

    public const string V1 = """
        CREATE TABLE orgs (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          default_key_id TEXT NOT NULL
        );
        CREATE TABLE keys (
          id TEXT PRIMARY KEY,
          org_id TEXT NOT NULL REFERENCES orgs(id),
          name TEXT NOT NULL,
          prefix TEXT NOT NULL,
          hash TEXT NOT NULL UNIQUE,
          previous_hash TEXT,
          previous_hash_expires_at INTEGER,
          environment TEXT NOT NULL,
          scopes TEXT NOT NULL,
          state TEXT NOT NULL,
          is_default INTEGER NOT NULL,
          description TEXT,
          created_by TEXT,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          expires_at INTEGER,
          last_used_at INTEGER,
          revoked_at INTEGER,
          customer_id TEXT,
          rate_limit_permits INTEGER,
          rate_limit_window_ms INTEGER,
          version INTEGER NOT NULL
        );
        CREATE INDEX ix_keys_previous_hash ON keys(previous_hash) WHERE previous_hash IS NOT NULL;
        CREATE INDEX ix_keys_org ON keys(org_id, created_at);
        CREATE UNIQUE INDEX ux_keys_org_live_name ON keys(org_id, name) WHERE state <> 'revoked';
        CREATE TABLE audit (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL,
          org_id TEXT NOT NULL,
          key_id TEXT,
          action TEXT NOT NULL,
          actor TEXT NOT NULL,
          at INTEGER NOT NULL,
          changes TEXT
        );
        CREATE INDEX ix_audit_org ON audit(org_id, seq);
        """;

    // Version 2: the network address an audited admin call came from.
    public const string V2 = """
        ALTER TABLE audit ADD COLUMN caller TEXT;
        """;

    // Version 3: a key's network allowlist, canonical CIDRs separated by spaces; NULL means any address.
    public const string V3 = "ALTER TABLE keys ADD COLUMN allowed_cidrs TEXT;";

    // Usage counts per subject (a key id, or a route id for requests without a known key), interval and
    // outcome. resolution: 0 = minute rows, 1 = hour rows rolled up from them. Counts are only added to.
    public const string V4 = """
        CREATE TABLE usage (
          kind INTEGER NOT NULL,
          subject TEXT NOT NULL,
          resolution INTEGER NOT NULL,
          bucket INTEGER NOT NULL,
          outcome TEXT NOT NULL,
          org_id TEXT,
          count INTEGER NOT NULL,
          PRIMARY KEY (kind, subject, resolution, bucket, outcome)
        ) WITHOUT ROWID;
        CREATE INDEX ix_usage_bucket ON usage(resolution, bucket);
        """;

    // Version 5: named admin tokens (Operators/), by SHA-256 only; a live name is unique so audit entries name one operator.
    public const string V5 = """
        CREATE TABLE operator_tokens (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          role TEXT NOT NULL,
          org_id TEXT,
          hash TEXT NOT NULL UNIQUE,
          prefix TEXT NOT NULL,
          created_by TEXT,
          created_at INTEGER NOT NULL,
          expires_at INTEGER,
          last_used_at INTEGER,
          revoked_at INTEGER
        );
        CREATE UNIQUE INDEX ux_operator_tokens_live_name ON operator_tokens(name) WHERE revoked_at IS NULL;
        """;

    // Version 6: customers (Customers/), quota and credit counters (RateLimiting/SqliteQuotaCounterStore), and a
    // key's credits as an operator set them ("remaining|epoch|setAtMs|refillAmount|refillPeriod").
    public const string V6 = """
        CREATE TABLE customers (
          org_id TEXT NOT NULL,
          id TEXT NOT NULL,
          name TEXT NOT NULL,
          plan TEXT,
          rate_limit_permits INTEGER,
          rate_limit_window_ms INTEGER,
          quota_limit INTEGER,
          quota_period TEXT,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          PRIMARY KEY (org_id, id)
        ) WITHOUT ROWID;
        CREATE TABLE quota_counters (
          partition TEXT PRIMARY KEY,
          used INTEGER NOT NULL,
          expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        ALTER TABLE keys ADD COLUMN credits TEXT;
        """;

    // Version 7: the request log (RequestLog/) and webhooks with their delivery outbox (Webhooks/).
    // org_id '' holds requests refused before an organization was known (no key, unknown key).
    public const string V7 = """
        CREATE TABLE request_log (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          org_id TEXT NOT NULL,
          at INTEGER NOT NULL,
          request_id TEXT NOT NULL,
          key_id TEXT,
          customer_id TEXT,
          method TEXT NOT NULL,
          path TEXT NOT NULL,
          route TEXT,
          status INTEGER NOT NULL,
          code TEXT,
          duration_ms REAL NOT NULL,
          client_ip TEXT,
          upstream_status INTEGER
        );
        CREATE INDEX ix_request_log_org ON request_log(org_id, at, seq);
        CREATE INDEX ix_request_log_request ON request_log(request_id);
        CREATE INDEX ix_request_log_at ON request_log(at);
        CREATE TABLE webhooks (
          id TEXT PRIMARY KEY,
          org_id TEXT NOT NULL,
          url TEXT NOT NULL,
          events TEXT NOT NULL,
          description TEXT,
          secret TEXT NOT NULL,
          enabled INTEGER NOT NULL,
          disabled_reason TEXT,
          failing_since INTEGER,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE INDEX ix_webhooks_org ON webhooks(org_id, created_at);
        CREATE TABLE webhook_deliveries (
          id TEXT PRIMARY KEY,
          webhook_id TEXT NOT NULL,
          org_id TEXT NOT NULL,
          type TEXT NOT NULL,
          body TEXT NOT NULL,
          status TEXT NOT NULL,
          attempts INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          next_attempt_at INTEGER NOT NULL,
          last_attempt_at INTEGER,
          response_status INTEGER,
          last_error TEXT,
          delivered_at INTEGER
        );
        CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
        CREATE INDEX ix_webhook_deliveries_hook ON webhook_deliveries(webhook_id, created_at);
        CREATE TABLE webhook_marks (
          mark TEXT PRIMARY KEY,
          at INTEGER NOT NULL
        );
        """;

    // Version 8: the request log's index on time alone goes. It served only the retention, which now walks the
    // table from its oldest row (rows are inserted in time order), and every insert and every trim had to keep
    // it up to date.
    public const string V8 = "DROP INDEX IF EXISTS ix_request_log_at;";

    // Version 9: the request log keeps one row per organization per write, its records a JSON array of arrays
    // (RequestLog/SqliteRequestLogStore), instead of a row per record with two indexes to keep: inserting and
    // later trimming each record was most of what the log cost a request. The rows already kept are packed into
    // batches of up to 500, in the order they were written.
    public const string V9 = """
        CREATE TABLE request_log_batches (
          seq INTEGER PRIMARY KEY,
          org_id TEXT NOT NULL,
          first_at INTEGER NOT NULL,
          last_at INTEGER NOT NULL,
          count INTEGER NOT NULL,
          records TEXT NOT NULL
        );
        CREATE INDEX ix_request_log_batches_org ON request_log_batches(org_id, seq);
        INSERT INTO request_log_batches (org_id, first_at, last_at, count, records)
          SELECT org_id, min(at), max(at), count(*),
                 json_group_array(json_array(at, request_id, key_id, customer_id, method, path, route, status, code, duration_ms, client_ip, upstream_status) ORDER BY seq)
          FROM (SELECT *, (row_number() OVER (PARTITION BY org_id ORDER BY seq) - 1) / 500 AS batch FROM request_log)
          GROUP BY org_id, batch
          ORDER BY min(seq);
        DROP TABLE request_log;
        """;

    // Version 10: last-used times in a narrow table of their own. Written for every key in use at each flush, they
    // rewrote rows of the wide keys table (hashes, scopes, names: about 300 bytes a row), so with 100,000 keys in use
    // nearly every page of it went through the WAL every few seconds; a row here is an id and a number. keys.last_used_at
    // stays, always NULL: dropping it would rewrite every row of keys during the upgrade.
    public const string V10 = """
        CREATE TABLE key_last_used (
          id TEXT PRIMARY KEY,
          at INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO key_last_used (id, at) SELECT id, last_used_at FROM keys WHERE last_used_at IS NOT NULL;
        UPDATE keys SET last_used_at = NULL WHERE last_used_at IS NOT NULL;
        """;

    // Version 11: console sessions ended by sign-out (the SHA-256 of each one's CSRF token), until their cookies' own end.
    public const string V11 = """
        CREATE TABLE ended_admin_sessions (
          id TEXT PRIMARY KEY,
          until_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
        """;

    // Version 12: a live operator token name is unique within its organization and among organization-less tokens,
    // not across organizations (one organization's owner could learn another's token names from a 409). The store
    // checks it when inserting (SqliteOperatorTokenStore), which a unique index cannot express; the index stays for the lookup.
    public const string V12 = """
        DROP INDEX ux_operator_tokens_live_name;
        CREATE INDEX ix_operator_tokens_live_name ON operator_tokens(name) WHERE revoked_at IS NULL;
        """;
}
