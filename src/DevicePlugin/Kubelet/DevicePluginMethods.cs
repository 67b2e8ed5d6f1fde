using System.Buffers;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Hosting;
using DevicePlugin.Inventory;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Kubelet;

/// <summary>
/// The five v1beta1 DevicePlugin methods, bound to <see cref="DevicePluginRouter"/> on the daemon's gRPC dispatcher,
/// with request parsers that answer a malformed protobuf message with INVALID_ARGUMENT and one log line.
/// </summary>
public static class DevicePluginMethods
{
    public const string Service = "v1beta1.DevicePlugin";

    /// <summary>The dispatcher serving the methods, each call through <paramref name="interceptors"/> (outermost first).</summary>
    public static GrpcDispatcher Create(IEnumerable<Interceptor> interceptors, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(DevicePluginMethods).FullName!);
        var router = new DevicePluginRouter();
        var dispatcher = new GrpcDispatcher(interceptors, loggers.CreateLogger<GrpcDispatcher>());
        dispatcher.AddUnary<Empty, DevicePluginOptions>(Service, nameof(DevicePluginRouter.GetDevicePluginOptions),
            Checked(logger, nameof(DevicePluginRouter.GetDevicePluginOptions), Empty.Parser), router.GetDevicePluginOptions);
        dispatcher.AddServerStreaming<Empty, ListAndWatchResponse>(Service, nameof(DevicePluginRouter.ListAndWatch),
            Checked(logger, nameof(DevicePluginRouter.ListAndWatch), Empty.Parser), router.ListAndWatch);
        dispatcher.AddUnary<AllocateRequest, AllocateResponse>(Service, nameof(DevicePluginRouter.Allocate),
            Checked(logger, nameof(DevicePluginRouter.Allocate), AllocateRequest.Parser), router.Allocate);
        dispatcher.AddUnary<PreferredAllocationRequest, PreferredAllocationResponse>(Service, nameof(DevicePluginRouter.GetPreferredAllocation),
            Checked(logger, nameof(DevicePluginRouter.GetPreferredAllocation), PreferredAllocationRequest.Parser), router.GetPreferredAllocation);
        dispatcher.AddUnary<PreStartContainerRequest, PreStartContainerResponse>(Service, nameof(DevicePluginRouter.PreStartContainer),
            Checked(logger, nameof(DevicePluginRouter.PreStartContainer), PreStartContainerRequest.Parser), router.PreStartContainer);
        return dispatcher;
    }

    /// <summary>The request parser: a message that does not parse is INVALID_ARGUMENT, logged once.</summary>
    private static Func<ReadOnlySequence<byte>, T> Checked<T>(ILogger logger, string method, MessageParser<T> parser)
        where T : class, IMessage<T>, IBufferMessage =>
        payload =>
        {
            try
            {
                return parser.ParseFrom(payload);
            }
            catch (InvalidProtocolBufferException e)
            {
                var problem = $"malformed {typeof(T).Name}: {ClientText.Quote(e.Message)}";
                KubeletLog.MalformedRequest(logger, method, problem);
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"{method}: {problem}"));
            }
        };
}
