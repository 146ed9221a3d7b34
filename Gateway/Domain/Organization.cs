namespace Gateway.Domain;

public sealed record Organization(string Id, string Name, DateTimeOffset CreatedAt, string DefaultKeyId);
