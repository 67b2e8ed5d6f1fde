using DevicePlugin.Api.V1Beta1;

namespace DevicePlugin.KubeletEmulator;

/// <summary>One Register call the emulated kubelet received, accepted or refused.</summary>
/// <param name="ReceivedAt">When the call arrived.</param>
/// <param name="Request">The request as sent.</param>
/// <param name="EndpointServing">Whether the endpoint socket accepted a connection when the call arrived (a plugin
/// must serve before it registers); false also when the endpoint is not a valid file name.</param>
/// <param name="EndpointProblem">Why the endpoint did not accept a connection, or null.</param>
/// <param name="Error">The kubelet's refusal message, or null when the registration was accepted.</param>
public sealed record RegistrationAttempt(
    DateTimeOffset ReceivedAt, RegisterRequest Request, bool EndpointServing, string? EndpointProblem, string? Error)
{
    /// <summary>True when the kubelet accepted the registration.</summary>
    public bool Accepted => Error is null;
}
