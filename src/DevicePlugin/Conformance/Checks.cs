namespace DevicePlugin.Conformance;

/// <summary>The checks <c>device-plugin conformance</c> runs, by name, with what each one requires.</summary>
public static class Checks
{
    public const string Version = "registration.version";
    public const string ResourceName = "registration.resource-name";
    public const string Endpoint = "registration.endpoint";
    public const string ServingBeforeRegister = "registration.serving-before-register";
    public const string Accepted = "registration.accepted";
    public const string Options = "options.consistent";
    public const string FirstList = "list-and-watch.first-list";
    public const string DeviceIds = "list-and-watch.device-ids";
    public const string Health = "list-and-watch.health";
    public const string NumaNodes = "list-and-watch.numa-nodes";
    public const string StreamOpen = "list-and-watch.stream-open";
    public const string PreferredResponses = "preferred-allocation.responses";
    public const string PreferredSize = "preferred-allocation.size";
    public const string PreferredSubset = "preferred-allocation.subset";
    public const string PreferredMustInclude = "preferred-allocation.must-include";
    public const string PreferredUnique = "preferred-allocation.unique";
    public const string AllocateEach = "allocate.each-device";
    public const string AllocateSeveral = "allocate.several";
    public const string DeviceSpecs = "allocate.device-specs";
    public const string Mounts = "allocate.mounts";
    public const string Envs = "allocate.envs";
    public const string CdiNames = "allocate.cdi-names";
    public const string UnknownId = "allocate.unknown-id";
    public const string EmptyRequest = "allocate.empty-request";
    public const string PreStart = "prestart.call";
    public const string Reregistration = "restart.re-registration";
    public const string OldStreamEnded = "restart.old-stream-ended";
    public const string ListAfterRestart = "restart.first-list";

    /// <summary>Every check in the order it runs, with what it requires.</summary>
    public static readonly IReadOnlyList<(string Name, string Rule)> All =
    [
        (Version, "RegisterRequest.version is \"v1beta1\""),
        (ResourceName, "the resource name is an extended resource name: domain/name, not kubernetes.io, name part at most 63 characters"),
        (Endpoint, "the endpoint is a file name (no '/') of a socket inside the kubelet directory"),
        (ServingBeforeRegister, "the endpoint accepts connections when Register arrives (the kubelet dials back inside the call)"),
        (Accepted, "the kubelet accepted a registration: valid fields, dial-back, GetDevicePluginOptions and ListAndWatch answered"),
        (Options, "GetDevicePluginOptions answers the options sent in RegisterRequest"),
        (FirstList, "the first ListAndWatch list arrives within 5 s of registration"),
        (DeviceIds, "device IDs are non-empty, unique in each list, at most 63 characters, without spaces or control characters"),
        (Health, "each device's health is exactly \"Healthy\" or \"Unhealthy\""),
        (NumaNodes, "NUMA node IDs in a device's topology are non-negative"),
        (StreamOpen, "the ListAndWatch stream stays open (a kubelet marks every device unhealthy when it ends)"),
        (PreferredResponses, "GetPreferredAllocation answers one container response per container request"),
        (PreferredSize, "each preferred set has exactly allocation_size IDs"),
        (PreferredSubset, "every preferred ID is among available_deviceIDs"),
        (PreferredMustInclude, "every must_include_deviceIDs ID is in the preferred set"),
        (PreferredUnique, "no preferred ID appears twice"),
        (AllocateEach, "Allocate succeeds for each healthy device alone, with one container response"),
        (AllocateSeveral, "Allocate succeeds for several devices at once and answers one container response per container request"),
        (DeviceSpecs, "device specs have absolute paths, the host path exists, permissions are letters of r, w, m"),
        (Mounts, "mounts have absolute paths and the host path exists"),
        (Envs, "environment names match [-._a-zA-Z][-._a-zA-Z0-9]*"),
        (CdiNames, "CDI device names are fully qualified: vendor/class=name"),
        (UnknownId, "Allocate of an ID the plugin never advertised is an error status, and the plugin keeps serving"),
        (EmptyRequest, "Allocate of a container request without IDs is an error status, and the plugin keeps serving"),
        (PreStart, "when pre_start_required, PreStartContainer with a healthy device succeeds"),
        (Reregistration, "--disruptive: after a kubelet restart (socket wipe) the plugin registers again within 5 s"),
        (OldStreamEnded, "--disruptive: the stream opened before the restart ends within 5 s"),
        (ListAfterRestart, "--disruptive: the new stream delivers a list within 5 s of the new registration"),
    ];
}
