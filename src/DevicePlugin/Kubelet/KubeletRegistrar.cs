using System.Diagnostics;
using DevicePlugin.Api;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Kubelet;

/// <summary>
/// Makes one resource's Register call to the kubelet and records its outcome in the resource's
/// <see cref="ResourceRegistration"/>. The call ends at a 30 s timeout, at shutdown, or as soon as a directory check
/// sees a new kubelet.sock: a kubelet that hangs inside Register and is then replaced must not hold up the next
/// registration.
/// </summary>
internal sealed class KubeletRegistrar(ResourceServerContext context, ResourceRegistration registration, ILogger logger)
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    public async Task RegisterAsync(string resourceName, string endpoint, ResourceSnapshot snapshot, CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        var kubelet = KubeletSocketIdentity.Read(context.KubeletSocket)
            ?? throw new IOException($"the kubelet socket {context.KubeletSocket} does not exist (kubelet not running?)");
        using var channel = UnixSocketChannel.Create(context.KubeletSocket, TimeSpan.FromSeconds(5));
        var client = new Registration.RegistrationClient(channel);
        var request = new RegisterRequest
        {
            Version = "v1beta1",
            Endpoint = endpoint,
            ResourceName = resourceName,
            Options = DevicePluginService.OptionsFor(snapshot),
        };

        using var call = CancellationTokenSource.CreateLinkedTokenSource(token);
        call.CancelAfter(CallTimeout);
        registration.CallStarted(kubelet, call);
        try
        {
            await client.RegisterAsync(request, cancellationToken: call.Token);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Cancelled or StatusCode.DeadlineExceeded && !token.IsCancellationRequested)
        {
            var abandoned = registration.CallEnded();
            throw new IOException(abandoned is null
                ? "the kubelet did not answer Register within 30 s"
                : $"Register abandoned: {abandoned}", e);
        }
        finally
        {
            registration.CallEnded();
        }

        registration.Registered(kubelet);
        context.Metrics.Registration(resourceName, ok: true);
        context.Registrations.Notify();
        KubeletLog.Registered(logger, resourceName, snapshot.Advertised.Length, endpoint,
            (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }
}
