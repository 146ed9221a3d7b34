using System.Text.Json.Serialization;
using Gateway.Domain;

namespace Gateway.Stores.Redis;

[JsonSourceGenerationOptions(UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ApiKeyRecord))]
[JsonSerializable(typeof(Organization))]
[JsonSerializable(typeof(AuditEntry))]
[JsonSerializable(typeof(string[]))]
internal sealed partial class RedisJsonContext : JsonSerializerContext;
