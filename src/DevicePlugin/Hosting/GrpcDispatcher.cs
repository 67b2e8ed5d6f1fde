using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace DevicePlugin.Hosting;

/// <summary>
/// Serves gRPC calls (unary and server-streaming, protobuf messages, no compression) over the HTTP/2 requests of a
/// Kestrel server that runs without ASP.NET Core's host, dependency injection or endpoint routing (see
/// <see cref="PluginWebHost"/>): the daemon's handful of device-plugin methods need none of it, and building it took
/// most of start-up. Each call runs through the interceptors given (outermost first) as in any gRPC server.
/// </summary>
/// <remarks>
/// What a gRPC server must do and this one does: POST with <c>content-type: application/grpc</c> only (405 for another
/// method on a gRPC path, 415 for another content type, 426 below HTTP/2); an unknown service or method is
/// UNIMPLEMENTED; <c>grpc-encoding</c> other than <c>identity</c> is UNIMPLEMENTED naming the accepted one, and a
/// message with the compressed flag is INTERNAL; a request message over <see cref="GrpcProtocol.MaxReceiveMessageSize"/>
/// is RESOURCE_EXHAUSTED, a truncated one or a second one INTERNAL; <c>grpc-timeout</c> sets the deadline (the call's
/// token is cancelled and the call ends DEADLINE_EXCEEDED); the request's abort cancels the call; the status goes in
/// the trailers, or alone in the headers when nothing was sent (trailers-only), with <c>grpc-message</c>
/// percent-encoded; a server-streaming call flushes each message. An exception other than <see cref="RpcException"/>
/// is UNKNOWN "Exception was thrown by handler." and one error line.
/// </remarks>
public sealed class GrpcDispatcher
{
    private readonly Dictionary<string, CallHandler> _methods = new(StringComparer.Ordinal);
    private readonly HashSet<string> _services = new(StringComparer.Ordinal);
    private readonly Interceptor[] _interceptors;
    private readonly ILogger _logger;

    /// <param name="interceptors">run around every call, the first outermost</param>
    public GrpcDispatcher(IEnumerable<Interceptor> interceptors, ILogger logger)
    {
        _interceptors = [.. interceptors];
        _logger = logger;
    }

    /// <summary>Adds a unary method <c>/service/name</c>.</summary>
    public void AddUnary<TRequest, TResponse>(string service, string name, Func<ReadOnlySequence<byte>, TRequest> parse,
        UnaryServerMethod<TRequest, TResponse> handler)
        where TRequest : class
        where TResponse : class, IMessage
    {
        var chain = Intercepted(handler, (interceptor, next) => (request, context) => interceptor.UnaryServerHandler(request, context, next));
        Add(service, name, new UnaryHandler<TRequest, TResponse>(parse, chain));
    }

    /// <summary>Adds a server-streaming method <c>/service/name</c>.</summary>
    public void AddServerStreaming<TRequest, TResponse>(string service, string name, Func<ReadOnlySequence<byte>, TRequest> parse,
        ServerStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class
        where TResponse : class, IMessage
    {
        var chain = Intercepted(handler,
            (interceptor, next) => (request, stream, context) => interceptor.ServerStreamingServerHandler(request, stream, context, next));
        Add(service, name, new ServerStreamingHandler<TRequest, TResponse>(parse, chain));
    }

    /// <summary>
    /// <paramref name="handler"/> inside every interceptor, the first outermost: composed once here, when the method is
    /// added, so a call runs the chain without looking anything up.
    /// </summary>
    private TMethod Intercepted<TMethod>(TMethod handler, Func<Interceptor, TMethod, TMethod> around)
    {
        for (var i = _interceptors.Length - 1; i >= 0; i--)
        {
            handler = around(_interceptors[i], handler);
        }

        return handler;
    }

    private void Add(string service, string name, CallHandler handler)
    {
        _services.Add(service);
        _methods.Add($"/{service}/{name}", handler);
    }

    /// <summary>Answers one HTTP request as a gRPC call.</summary>
    public async Task DispatchAsync(HttpContext http)
    {
        var request = http.Request;
        var response = http.Response;
        var path = request.Path.Value ?? "";
        var known = _methods.TryGetValue(path, out var handler);
        if (!HttpMethods.IsPost(request.Method))
        {
            // As endpoint routing answers: the path is a POST-only gRPC method, or nothing at all.
            response.StatusCode = known ? StatusCodes.Status405MethodNotAllowed : StatusCodes.Status404NotFound;
            if (known)
            {
                response.Headers.Allow = "POST";
            }

            return;
        }

        if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
        {
            if (!known)
            {
                response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            Refuse(response, StatusCodes.Status415UnsupportedMediaType,
                new Status(StatusCode.Internal, $"Content-Type '{request.ContentType}' is not supported."));
            return;
        }

        if (!HttpProtocol.IsHttp2(request.Protocol))
        {
            Refuse(response, StatusCodes.Status426UpgradeRequired,
                new Status(StatusCode.Internal, $"Request protocol '{request.Protocol}' is not supported."));
            return;
        }

        if (!known)
        {
            var slash = path.IndexOf('/', 1);
            var service = slash > 1 ? path[1..slash] : "";
            GrpcProtocol.SetStatus(response, new Status(StatusCode.Unimplemented,
                _services.Contains(service) ? "Method is unimplemented." : "Service is unimplemented."), null);
            return;
        }

        var encoding = request.Headers[GrpcProtocol.EncodingHeader];
        if (encoding.Count > 0 && !(encoding.Count == 1 && encoding[0] == "identity"))
        {
            response.Headers[GrpcProtocol.AcceptEncodingHeader] = "identity";
            GrpcProtocol.SetStatus(response, new Status(StatusCode.Unimplemented,
                $"Unsupported grpc-encoding value '{encoding}'. Supported encodings: identity"), null);
            return;
        }

        // gRPC's own message limit applies (GrpcProtocol.MaxReceiveMessageSize), not the server's body limit, which
        // would fail a call carrying one message of the largest size with a bare HTTP error.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
        {
            bodyLimit.MaxRequestBodySize = null;
        }

        await ServeAsync(http, handler!, path);
    }

    private async Task ServeAsync(HttpContext http, CallHandler handler, string method)
    {
        CancellationTokenSource? deadline = null;
        CancellationTokenSource? linked = null;
        var token = http.RequestAborted;
        var due = DateTime.MaxValue;
        if (GrpcProtocol.TryParseTimeout(http.Request.Headers[GrpcProtocol.TimeoutHeader], out var timeout))
        {
            // Timers run up to about 49 days; a longer deadline is none in practice.
            var limited = timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout > MaxTimer ? MaxTimer : timeout;
            due = DateTime.UtcNow + limited;
            deadline = new CancellationTokenSource(limited);
            linked = CancellationTokenSource.CreateLinkedTokenSource(token, deadline.Token);
            token = linked.Token;
        }

        try
        {
            var call = new GrpcServerCall(http, method, due, token);
            Status status;
            Metadata? thrownTrailers = null;
            try
            {
                await handler.InvokeAsync(http, call, deadline?.Token ?? CancellationToken.None);
                status = call.Status;
            }
            catch (RpcException e)
            {
                status = e.Status;
                thrownTrailers = e.Trailers;
            }
            catch (Exception) when (http.RequestAborted.IsCancellationRequested || deadline?.IsCancellationRequested == true)
            {
                status = new Status(StatusCode.Cancelled, "");
            }
            catch (Exception e)
            {
                HostingLog.CallFailed(_logger, method, e.GetType().Name, e.Message, e);
                status = new Status(StatusCode.Unknown, "Exception was thrown by handler.");
            }

            if (http.RequestAborted.IsCancellationRequested)
            {
                return; // Nobody to answer.
            }

            if (deadline?.IsCancellationRequested == true)
            {
                status = new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
            }

            var trailers = call.AddedTrailers;
            if (thrownTrailers is { Count: > 0 })
            {
                trailers ??= [];
                foreach (var entry in thrownTrailers)
                {
                    trailers.Add(entry);
                }
            }

            GrpcProtocol.SetStatus(http.Response, status, trailers, call.HeadersSent);
        }
        finally
        {
            linked?.Dispose();
            deadline?.Dispose();
        }
    }

    private static readonly TimeSpan MaxTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>An HTTP-level refusal: the HTTP status, and the gRPC status in the headers for a gRPC client.</summary>
    private static void Refuse(HttpResponse response, int httpStatus, Status status)
    {
        GrpcProtocol.SetStatus(response, status, null);
        response.StatusCode = httpStatus;
    }

    private abstract class CallHandler
    {
        /// <param name="deadline">cancelled when the call's deadline passes; none when it has none</param>
        public abstract Task InvokeAsync(HttpContext http, GrpcServerCall call, CancellationToken deadline);
    }

    private sealed class UnaryHandler<TRequest, TResponse>(
        Func<ReadOnlySequence<byte>, TRequest> parse, UnaryServerMethod<TRequest, TResponse> method) : CallHandler
        where TRequest : class
        where TResponse : class, IMessage
    {
        public override async Task InvokeAsync(HttpContext http, GrpcServerCall call, CancellationToken deadline)
        {
            var request = await GrpcProtocol.ReadSingleMessageAsync(http.Request.BodyReader, GrpcProtocol.MaxReceiveMessageSize, parse, call.CancellationToken);
            var answer = method(request, call);
            if (!answer.IsCompleted && deadline.CanBeCanceled)
            {
                // A handler that outlives the deadline is not waited for: its answer would be dropped anyway.
                var expired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                using (deadline.Register(() => expired.TrySetResult()))
                {
                    if (await Task.WhenAny(answer, expired.Task) != answer)
                    {
                        _ = answer.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                        throw new OperationCanceledException(deadline);
                    }
                }
            }

            var reply = await answer;
            if (call.Status.StatusCode != StatusCode.OK)
            {
                return; // The service set a failure status: no message goes with it.
            }

            call.StartResponse();
            // Not flushed: the server sends it with the trailers when the request completes.
            GrpcProtocol.WriteMessage(http.Response.BodyWriter, reply);
        }
    }

    private sealed class ServerStreamingHandler<TRequest, TResponse>(
        Func<ReadOnlySequence<byte>, TRequest> parse, ServerStreamingServerMethod<TRequest, TResponse> method) : CallHandler
        where TRequest : class
        where TResponse : class, IMessage
    {
        public override async Task InvokeAsync(HttpContext http, GrpcServerCall call, CancellationToken deadline)
        {
            var request = await GrpcProtocol.ReadSingleMessageAsync(http.Request.BodyReader, GrpcProtocol.MaxReceiveMessageSize, parse, call.CancellationToken);
            var stream = new ResponseStream<TResponse>(http, call);
            try
            {
                await method(request, stream, call);
            }
            finally
            {
                stream.Complete();
            }
        }
    }

    /// <summary>A server-streaming call's responses: each message flushed as it is written.</summary>
    private sealed class ResponseStream<T>(HttpContext http, GrpcServerCall call) : IServerStreamWriter<T>
        where T : class, IMessage
    {
        private bool _complete;

        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

        public async Task WriteAsync(T message, CancellationToken cancellationToken)
        {
            if (_complete)
            {
                throw new InvalidOperationException("Can't write the message because the call is complete.");
            }

            call.StartResponse();
            GrpcProtocol.WriteMessage(http.Response.BodyWriter, message);
            var flushed = await http.Response.BodyWriter.FlushAsync(cancellationToken);
            if (flushed.IsCanceled)
            {
                throw new OperationCanceledException(cancellationToken);
            }
        }

        public void Complete() => _complete = true;
    }
}
