namespace Gateway.Client;

/// <summary>
/// The API operation (method and path as the gateway's <c>/openapi/v1.json</c> writes it) a client method calls.
/// The gateway's tests compare these with the OpenAPI document, so an endpoint without a client method fails them.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class GatewayOperationAttribute(string method, string path) : Attribute
{
    public string Method { get; } = method;

    public string Path { get; } = path;
}
