using System.Reflection;
using Gateway.Observability;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Observability;

/// <summary>Every log message's event id is declared in <see cref="EventIds"/> and used by one message only.</summary>
public sealed class EventIdsTests
{
    [Test]
    public void LoggerMessages_EveryEventId_DeclaredOnceAndUsedOnce()
    {
        var declared = typeof(EventIds).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (Name: f.Name, Id: (int)f.GetRawConstantValue()!))
            .ToList();
        var used = typeof(EventIds).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Select(m => (Method: $"{m.DeclaringType!.FullName}.{m.Name}", Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(m => m.Attribute is not null)
            .Select(m => (m.Method, Id: m.Attribute!.EventId))
            .ToList();

        Assert.That(used, Is.Not.Empty);
        Assert.Multiple(() =>
        {
            Assert.That(declared.GroupBy(d => d.Id).Where(g => g.Count() > 1).Select(g => g.Key), Is.Empty, "an id declared twice in EventIds");
            Assert.That(used.Where(u => declared.All(d => d.Id != u.Id)).Select(u => $"{u.Method} uses {u.Id}"), Is.Empty, "declare these in Observability/EventIds.cs");
            Assert.That(used.GroupBy(u => u.Id).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(u => u.Method))}"), Is.Empty, "one id per message");
        });
    }
}
