using System.Net;
using System.Text.Json.Nodes;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Deploy;

/// <summary>
/// deploy/kubernetes is a kustomize base whose ports, probe paths, env names, drain time and writable
/// paths agree with what the application actually serves and reads.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string Folder = RepositoryFiles.PathOf("deploy", "kubernetes");

    [Test]
    public void Kustomization_ListsEveryManifestAndEveryRequiredKind()
    {
        var kustomization = YamlDocuments.Load(Path.Combine(Folder, "kustomization.yaml")).Single();
        var resources = kustomization["resources"]!.AsArray().Select(r => r!.ToString()).ToList();
        var files = Directory.EnumerateFiles(Folder, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml");
        Assert.That(resources, Is.EquivalentTo(files), "every manifest in the folder is a resource, and every resource exists");

        var kinds = resources.SelectMany(r => YamlDocuments.Load(Path.Combine(Folder, r))).Select(d => d.Text("kind")).ToList();
        Assert.That(kinds, Is.SupersetOf(new[] { "Deployment", "Service", "NetworkPolicy", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler" }));

        // The ConfigMap comes from the generator, from a JSON appsettings file the gateway can read.
        var generator = kustomization["configMapGenerator"]!.AsArray().Single()!;
        var file = generator["files"]!.AsArray().Single()!.ToString();
        Assert.That(file, Is.EqualTo("appsettings.json"));
        var settings = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, file)))!;
        Assert.That(settings[GatewayOptions.SectionName], Is.Not.Null);
        Assert.That(settings[GatewayOptions.SectionName]!["Demo"]!["Enabled"]!.GetValue<bool>(), Is.False);
        var mounted = Deployment()["spec"]!["template"]!["spec"]!["volumes"]!.AsArray().Select(v => v.Text("configMap", "name"));
        Assert.That(mounted, Does.Contain(generator.Text("name")));
    }

    [Test]
    public async Task Deployment_PortsProbesAndDrain_MatchTheRunningApplication()
    {
        var deployment = Deployment();
        var pod = deployment["spec"]!["template"]!["spec"]!;
        var container = pod["containers"]!.AsArray().Single()!;
        Assert.That(Int(deployment.Text("spec", "replicas")!), Is.GreaterThanOrEqualTo(2));

        var env = Env(container);
        var ports = container["ports"]!.AsArray().ToDictionary(p => p.Text("name")!, p => Int(p.Text("containerPort")!));
        Assert.That(ports.Keys, Is.EquivalentTo(new[] { "proxy", "admin" }));
        Assert.That(new Uri(env[$"Kestrel__Endpoints__{Listeners.ProxyName}__Url"]!).Port, Is.EqualTo(ports["proxy"]));
        Assert.That(new Uri(env[$"Kestrel__Endpoints__{Listeners.AdminName}__Url"]!).Port, Is.EqualTo(ports["admin"]));

        // The probes' paths answer on the admin listener of a real gateway, and not on the proxy listener.
        await using var gateway = await GatewayHost.StartAsync();
        foreach (var probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
        {
            var get = container[probe]!["httpGet"]!;
            Assert.That(get.Text("port"), Is.EqualTo("admin"), probe);
            using var onAdmin = await gateway.Admin.GetAsync(get.Text("path"));
            Assert.That(onAdmin.StatusCode, Is.EqualTo(HttpStatusCode.OK), probe);
            using var onProxy = await gateway.Proxy.GetAsync(get.Text("path"));
            Assert.That(onProxy.StatusCode, Is.Not.EqualTo(HttpStatusCode.OK), probe);
        }

        Assert.That(container.Text("readinessProbe", "httpGet", "path"), Is.EqualTo("/readyz"), "readiness follows the store");
        Assert.That(container.Text("livenessProbe", "httpGet", "path"), Is.EqualTo("/healthz"), "a store outage must not restart pods");

        // SIGTERM grace: the preStop pause plus the gateway's drain, with room to spare.
        var drain = gateway.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout;
        var preStop = Int(container.Text("lifecycle", "preStop", "sleep", "seconds") ?? "0");
        Assert.That(Int(pod.Text("terminationGracePeriodSeconds")!), Is.GreaterThan(preStop + drain.TotalSeconds));
    }

    [Test]
    public void Deployment_EnvNamesAndSecrets_AreSettingsTheGatewayReads()
    {
        var container = Deployment()["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Single()!;
        var env = container["env"]!.AsArray();
        foreach (var variable in env)
        {
            Assert.That(SettingNames.IsKnown(variable.Text("name")!), Is.True, $"{variable.Text("name")} is not a setting the gateway reads");
        }

        var secret = Manifest("Secret");
        var secretKeys = secret["stringData"]!.AsObject().Select(p => p.Key).ToList();
        var fromSecret = env.Where(v => v!["valueFrom"] is not null).ToDictionary(v => v.Text("name")!, v => v!["valueFrom"]!["secretKeyRef"]!);
        Assert.That(fromSecret.Keys, Is.EquivalentTo(new[] { "Gateway__Admin__Token", "Gateway__Store__Redis" }));
        foreach (var reference in fromSecret.Values)
        {
            Assert.That(reference.Text("name"), Is.EqualTo(secret.Text("metadata", "name")));
            Assert.That(secretKeys, Does.Contain(reference.Text("key")));
        }
    }

    [Test]
    public void Deployment_SecurityContext_NonRootReadOnlyWithWritableDataAndTmp()
    {
        var pod = Deployment()["spec"]!["template"]!["spec"]!;
        var container = pod["containers"]!.AsArray().Single()!;
        Assert.That(pod.Text("securityContext", "runAsNonRoot"), Is.EqualTo("true"));
        Assert.That(container.Text("securityContext", "readOnlyRootFilesystem"), Is.EqualTo("true"));
        Assert.That(container.Text("securityContext", "allowPrivilegeEscalation"), Is.EqualTo("false"));
        Assert.That(container["resources"]!["requests"], Is.Not.Null);
        Assert.That(container["resources"]!["limits"]!["memory"], Is.Not.Null);

        var emptyDirs = pod["volumes"]!.AsArray().Where(v => v!["emptyDir"] is not null).Select(v => v.Text("name")).ToHashSet();
        var writable = container["volumeMounts"]!.AsArray().Where(m => emptyDirs.Contains(m.Text("name"))).Select(m => m.Text("mountPath")!).ToList();

        // Where the store file (and a generated admin token) would go: the Store:Path setting, relative to the image's WORKDIR.
        var storePath = Env(container).GetValueOrDefault("Gateway__Store__Path") ?? new StoreOptions().Path;
        var dataDirectory = Path.GetDirectoryName(Path.Combine(Dockerfile.Load().WorkDir!, storePath))!;
        Assert.That(writable, Does.Contain(dataDirectory));
        Assert.That(writable, Does.Contain("/tmp"));
    }

    [Test]
    public void ServiceAndNetworkPolicy_ProxyPortFromIngressOnly_AdminPortFromOperatorPodsOfTheNamespaceOnly()
    {
        var labels = Deployment()["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();
        bool Selects(JsonNode? selector) => selector!.AsObject().All(p => labels[p.Key]?.ToString() == p.Value!.ToString());

        var service = Manifest("Service");
        Assert.That(Selects(service["spec"]!["selector"]), Is.True);
        Assert.That(service["spec"]!["ports"]!.AsArray().Select(p => p.Text("targetPort")), Is.All.EqualTo("proxy"));

        var policy = Manifest("NetworkPolicy");
        Assert.That(Selects(policy["spec"]!["podSelector"]!["matchLabels"]), Is.True);
        var rules = policy["spec"]!["ingress"]!.AsArray();
        foreach (var rule in rules)
        {
            var rulePorts = rule!["ports"]!.AsArray().Select(p => p.Text("port")).ToList();
            if (rule["from"] is not JsonArray from)
            {
                Assert.That(rulePorts, Is.EquivalentTo(new[] { "proxy" }), "only the proxy port is open to any source");
                continue;
            }

            Assert.That(from.Select(f => f!.AsObject().Select(p => p.Key)).SelectMany(k => k), Has.None.EqualTo("ipBlock"), "admin peers are in-cluster pods, never address ranges");
        }

        Assert.That(rules.SelectMany(r => r!["ports"]!.AsArray()).Select(p => p.Text("port")), Does.Contain("admin"));

        // The admin port: operator pods of the gateway's own namespace only (a podSelector without a
        // namespaceSelector), never every pod of the cluster.
        var adminRules = rules.Where(r => r!["ports"]!.AsArray().Any(p => p.Text("port") == "admin")).ToList();
        Assert.That(adminRules, Is.Not.Empty);
        foreach (var rule in adminRules)
        {
            Assert.That(rule!["ports"]!.AsArray().Select(p => p.Text("port")), Is.EquivalentTo(new[] { "admin" }), "admin shares no rule with the proxy port");
            Assert.That(rule["from"], Is.Not.Null, "the admin port is never open to any source");
            foreach (var peer in rule["from"]!.AsArray())
            {
                Assert.That(peer!["namespaceSelector"], Is.Null, "same namespace only");
                Assert.That(peer["podSelector"]?["matchLabels"]?["gateway.admin/operator"]?.ToString(), Is.EqualTo("true"), "operator pods only");
            }
        }

        // The proxy port: the ingress controller only, since Gateway:TrustedProxies believes X-Forwarded-For from
        // the pod network; another pod able to connect could pick the client address it is limited under.
        var proxyRules = rules.Where(r => r!["ports"]!.AsArray().Any(p => p.Text("port") == "proxy")).ToList();
        Assert.That(proxyRules, Is.Not.Empty);
        foreach (var rule in proxyRules)
        {
            Assert.That(rule!["from"], Is.Not.Null, "the proxy port is reached through the ingress only");
            Assert.That(rule["from"]!.AsArray().Select(p => p!["podSelector"]?["matchLabels"]), Has.All.Not.Null, "ingress controller pods, selected by label");
        }

        var budget = Manifest("PodDisruptionBudget");
        Assert.That(Selects(budget["spec"]!["selector"]!["matchLabels"]), Is.True);
        var autoscaler = Manifest("HorizontalPodAutoscaler");
        Assert.That(autoscaler.Text("spec", "scaleTargetRef", "name"), Is.EqualTo(Deployment().Text("metadata", "name")));
        Assert.That(Int(autoscaler.Text("spec", "minReplicas")!), Is.GreaterThanOrEqualTo(2));
    }

    [Test]
    public void Settings_AdminBelievesNoForwardedForAndThePlaceholderTokenCannotStart()
    {
        var settings = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "appsettings.json")))![GatewayOptions.SectionName]!;
        var adminProxies = settings["Admin"]?["TrustedProxies"]?.AsArray().Select(p => p!.ToString()).ToList() ?? [];
        Assert.That(adminProxies, Is.Empty, "operators reach the admin port directly; no proxy speaks for them");

        // The committed Secret holds a placeholder that must be replaced: a gateway given it refuses to start.
        var token = Manifest("Secret")["stringData"]!["admin-token"]!.ToString();
        Assert.That(AdminOptionsValidation.TokenProblem(token), Is.Not.Null, token);
    }

    [Test]
    public void Compose_GatewaysPointAtServicesInTheFileWithSettingsTheGatewayReads()
    {
        var compose = YamlDocuments.Load(RepositoryFiles.PathOf("deploy", "compose.yml")).Single();
        var services = compose["services"]!.AsObject();
        var gateways = services.Where(s => s.Value!["build"] is not null).ToList();
        Assert.That(gateways, Has.Count.EqualTo(2));
        Assert.That(services.Where(s => s.Value!["build"] is null).Select(s => s.Value.Text("image")), Has.All.Not.Null, "every other service is an image that exists on a registry");

        foreach (var (name, gateway) in gateways)
        {
            var environment = gateway!["environment"]!.AsObject();
            foreach (var variable in environment)
            {
                Assert.That(SettingNames.IsKnown(variable.Key), Is.True, $"{name}: {variable.Key}");
            }

            var redisHost = environment["Gateway__Store__Redis"]!.ToString().Split(':')[0];
            Assert.That(services.Select(s => s.Key), Does.Contain(redisHost));
            foreach (var destination in environment.Where(v => v.Key.EndsWith("__Address", StringComparison.Ordinal)))
            {
                Assert.That(services.Select(s => s.Key), Does.Contain(new Uri(destination.Value!.ToString()).Host), destination.Key);
            }

            // Admin ports are published on the host's loopback only.
            var adminPort = new Uri(Dockerfile.Load().Environment["Kestrel__Endpoints__Admin__Url"]).Port;
            var published = gateway["ports"]!.AsArray().Select(p => p!.ToString()).Where(p => p.EndsWith($":{adminPort}", StringComparison.Ordinal)).ToList();
            Assert.That(published, Is.Not.Empty.And.All.StartWith("127.0.0.1:"));
        }
    }

    private static int Int(string text) => int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    private static JsonObject Deployment() => Manifest("Deployment");

    private static JsonObject Manifest(string kind) =>
        Directory.EnumerateFiles(Folder, "*.yaml").SelectMany(YamlDocuments.Load).Single(d => d.Text("kind") == kind);

    private static Dictionary<string, string?> Env(JsonNode container) =>
        container["env"]!.AsArray().ToDictionary(v => v.Text("name")!, v => v.Text("value"));
}
