namespace Gateway.Usage;

/// <summary>
/// Outermost proxy stage: lets the request run and then counts it, after the later stages have set
/// the outcome. Completes synchronously when the rest of the pipeline did, like YARP's own stages.
/// </summary>
internal sealed class UsageMiddleware(RequestDelegate next, UsageCounters counters)
{
    public Task InvokeAsync(HttpContext context)
    {
        var task = next(context);
        if (task.IsCompletedSuccessfully)
        {
            counters.Record(context);
            return Task.CompletedTask;
        }

        return CountAfterAsync(task, context);
    }

    private async Task CountAfterAsync(Task task, HttpContext context)
    {
        await task;
        counters.Record(context);
    }
}
