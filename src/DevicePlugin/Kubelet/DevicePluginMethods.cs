using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Inventory;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Kubelet;

/// <summary>
/// Binds the five DevicePlugin methods to <see cref="DevicePluginRouter"/>, with request parsers that answer a
/// malformed protobuf message with INVALID_ARGUMENT and one log line.
/// </summary>
/// <remarks>
/// grpc-dotnet parses the request in its call handler, before any interceptor runs, and answers a parser exception
/// with UNKNOWN "Exception was thrown by handler." and an error log with the stack trace. It passes an
/// <see cref="RpcException"/> thrown there through as the call's status, so the parsers here throw one. The generated
/// binder (<c>BindService</c>) offers no way to change a method's marshaller, hence this provider in its place:
/// <see cref="DevicePluginRouter"/> does not derive from the generated base class, so only these bindings exist.
/// </remarks>
public sealed class DevicePluginMethods(ILogger<DevicePluginMethods> logger) : IServiceMethodProvider<DevicePluginRouter>
{
    private const string Service = "v1beta1.DevicePlugin";

    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<DevicePluginRouter> context)
    {
        context.AddUnaryMethod(Unary(nameof(DevicePluginRouter.GetDevicePluginOptions), Empty.Parser, DevicePluginOptions.Parser), [],
            (router, request, call) => router.GetDevicePluginOptions(request, call));
        context.AddServerStreamingMethod(
            new Method<Empty, ListAndWatchResponse>(MethodType.ServerStreaming, Service, nameof(DevicePluginRouter.ListAndWatch),
                Checked(nameof(DevicePluginRouter.ListAndWatch), Empty.Parser), Plain(ListAndWatchResponse.Parser)), [],
            (router, request, stream, call) => router.ListAndWatch(request, stream, call));
        context.AddUnaryMethod(Unary(nameof(DevicePluginRouter.Allocate), AllocateRequest.Parser, AllocateResponse.Parser), [],
            (router, request, call) => router.Allocate(request, call));
        context.AddUnaryMethod(Unary(nameof(DevicePluginRouter.GetPreferredAllocation), PreferredAllocationRequest.Parser, PreferredAllocationResponse.Parser), [],
            (router, request, call) => router.GetPreferredAllocation(request, call));
        context.AddUnaryMethod(Unary(nameof(DevicePluginRouter.PreStartContainer), PreStartContainerRequest.Parser, PreStartContainerResponse.Parser), [],
            (router, request, call) => router.PreStartContainer(request, call));
    }

    private Method<TRequest, TResponse> Unary<TRequest, TResponse>(string name, MessageParser<TRequest> request, MessageParser<TResponse> response)
        where TRequest : class, IMessage<TRequest>, IBufferMessage
        where TResponse : class, IMessage<TResponse>, IBufferMessage =>
        new(MethodType.Unary, Service, name, Checked(name, request), Plain(response));

    /// <summary>The request marshaller: a message that does not parse is INVALID_ARGUMENT, logged once.</summary>
    private Marshaller<T> Checked<T>(string method, MessageParser<T> parser)
        where T : class, IMessage<T>, IBufferMessage =>
        Marshallers.Create(Serialize, context =>
        {
            try
            {
                return parser.ParseFrom(context.PayloadAsReadOnlySequence());
            }
            catch (InvalidProtocolBufferException e)
            {
                var problem = $"malformed {typeof(T).Name}: {ClientText.Quote(e.Message)}";
                KubeletLog.MalformedRequest(logger, method, problem);
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"{method}: {problem}"));
            }
        });

    private static Marshaller<T> Plain<T>(MessageParser<T> parser)
        where T : class, IMessage<T>, IBufferMessage =>
        Marshallers.Create(Serialize, context => parser.ParseFrom(context.PayloadAsReadOnlySequence()));

    private static void Serialize<T>(T message, SerializationContext context)
        where T : IMessage<T>, IBufferMessage
    {
        context.SetPayloadLength(message.CalculateSize());
        message.WriteTo(context.GetBufferWriter());
        context.Complete();
    }
}
