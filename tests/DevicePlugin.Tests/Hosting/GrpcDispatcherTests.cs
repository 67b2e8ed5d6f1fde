using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using DevicePlugin.Api.V1Beta1;
using DevicePlugin.Hosting;
using DevicePlugin.Tests.TestSupport;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace DevicePlugin.Tests.Hosting;

/// <summary>
/// The daemon's own gRPC dispatcher, served by Kestrel on a real Unix socket and called with Grpc.Net.Client, or with
/// plain HTTP/2 requests where a gRPC client would not send what is tested.
/// </summary>
public sealed class GrpcDispatcherTests
{
    private const string Service = "test.Service";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <summary>A request message: how many bytes it had.</summary>
    private sealed record Payload(long Length);

    private static Payload Measure(ReadOnlySequence<byte> bytes) => new(bytes.Length);

    private static Method<byte[], byte[]> Raw(string service, string name, MethodType type = MethodType.Unary) =>
        new(type, service, name, Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));

    private static byte[] Frame(byte[] message, byte flag = 0)
    {
        var frame = new byte[GrpcProtocol.HeaderLength + message.Length];
        frame[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame, GrpcProtocol.HeaderLength);
        return frame;
    }

    private static HttpRequestMessage GrpcRequest(string path, byte[] body, string contentType = "application/grpc", HttpMethod? method = null)
    {
        var request = new HttpRequestMessage(method ?? HttpMethod.Post, path) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        if (method != HttpMethod.Get)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        request.Headers.TryAddWithoutValidation("te", "trailers");
        return request;
    }

    private static string? Only(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    private static Task<GrpcTestServer> EchoServerAsync(params Interceptor[] interceptors) => GrpcTestServer.StartAsync(d =>
        d.AddUnary<Payload, Empty>(Service, "Echo", Measure, (_, _) => Task.FromResult(new Empty())), interceptors);

    [Fact]
    public async Task A_unary_call_runs_through_the_interceptors_outermost_first_and_sees_its_method_and_features()
    {
        var seen = new List<string>();
        await using var server = await GrpcTestServer.StartAsync(d => d.AddUnary<Payload, AllocateResponse>(Service, "Size", Measure,
                (request, context) =>
                {
                    seen.Add($"service {context.Method} {((GrpcServerCall)context).Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.Path}");
                    context.ResponseTrailers.Add("served-by", "test");
                    var response = new AllocateResponse();
                    response.ContainerResponses.Add(new ContainerAllocateResponse { Envs = { ["LENGTH"] = request.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) } });
                    return Task.FromResult(response);
                }),
            new Recording("outer", seen), new Recording("inner", seen));
        using var channel = server.Channel();
        var call = channel.CreateCallInvoker().AsyncUnaryCall(Raw(Service, "Size"), null, new CallOptions(deadline: DateTime.UtcNow + Wait), new byte[1000]);

        var response = AllocateResponse.Parser.ParseFrom(await call.ResponseAsync);

        Assert.Equal("1000", response.ContainerResponses[0].Envs["LENGTH"]);
        Assert.Equal(["outer /test.Service/Size", "inner /test.Service/Size", "service /test.Service/Size /test.Service/Size"], seen);
        Assert.Equal("test", call.GetTrailers().GetValue("served-by"));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task An_unknown_method_or_service_is_unimplemented()
    {
        await using var server = await EchoServerAsync();
        using var channel = server.Channel();
        var invoker = channel.CreateCallInvoker();

        var method = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(Raw(Service, "Nope"), null, new CallOptions(deadline: DateTime.UtcNow + Wait), []).ResponseAsync);
        var service = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(Raw("other.Service", "Echo"), null, new CallOptions(deadline: DateTime.UtcNow + Wait), []).ResponseAsync);

        Assert.Equal(StatusCode.Unimplemented, method.StatusCode);
        Assert.Equal("Method is unimplemented.", method.Status.Detail);
        Assert.Equal(StatusCode.Unimplemented, service.StatusCode);
        Assert.Equal("Service is unimplemented.", service.Status.Detail);
    }

    [Fact]
    public async Task Only_a_grpc_POST_is_a_call_another_method_is_405_another_content_type_415_and_an_unknown_path_404()
    {
        await using var server = await EchoServerAsync();
        using var http = server.Http();

        using var get = await http.SendAsync(GrpcRequest("/test.Service/Echo", [], method: HttpMethod.Get));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Equal("POST", get.Content.Headers.Allow.Single());

        using var text = await http.SendAsync(GrpcRequest("/test.Service/Echo", Frame([]), "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
        Assert.Equal("13", Only(text.Headers, "grpc-status"));
        Assert.Contains("text/plain", Only(text.Headers, "grpc-message"), StringComparison.Ordinal);

        using var unknown = await http.SendAsync(GrpcRequest("/metrics", [], method: HttpMethod.Get));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using var unknownText = await http.SendAsync(GrpcRequest("/nothing/here", Frame([]), "text/plain"));
        Assert.Equal(HttpStatusCode.NotFound, unknownText.StatusCode);

        // application/grpc+proto is gRPC too.
        using var proto = await http.SendAsync(GrpcRequest("/test.Service/Echo", Frame([]), "application/grpc+proto"));
        await proto.Content.ReadAsByteArrayAsync();
        Assert.Equal("0", Only(proto.TrailingHeaders, "grpc-status"));
    }

    [Fact]
    public async Task A_grpc_encoding_other_than_identity_is_unimplemented_naming_identity_and_a_compressed_message_is_internal()
    {
        var called = 0;
        await using var server = await GrpcTestServer.StartAsync(d => d.AddUnary<Payload, Empty>(Service, "Echo", Measure,
            (_, _) => { Interlocked.Increment(ref called); return Task.FromResult(new Empty()); }));
        using var http = server.Http();

        using var gzipRequest = GrpcRequest("/test.Service/Echo", Frame([1, 2, 3], flag: 1));
        gzipRequest.Headers.TryAddWithoutValidation("grpc-encoding", "gzip");
        using var gzip = await http.SendAsync(gzipRequest);
        Assert.Equal(HttpStatusCode.OK, gzip.StatusCode);
        Assert.Equal("12", Only(gzip.Headers, "grpc-status"));
        Assert.Equal("identity", Only(gzip.Headers, "grpc-accept-encoding"));
        Assert.Contains("gzip", Only(gzip.Headers, "grpc-message"), StringComparison.Ordinal);

        using var flagged = await http.SendAsync(GrpcRequest("/test.Service/Echo", Frame([1, 2, 3], flag: 1)));
        Assert.Equal("13", Only(flagged.Headers, "grpc-status"));
        Assert.Contains("compressed", Only(flagged.Headers, "grpc-message"), StringComparison.Ordinal);

        using var identityRequest = GrpcRequest("/test.Service/Echo", Frame([]));
        identityRequest.Headers.TryAddWithoutValidation("grpc-encoding", "identity");
        using var identity = await http.SendAsync(identityRequest);
        await identity.Content.ReadAsByteArrayAsync();
        Assert.Equal("0", Only(identity.TrailingHeaders, "grpc-status"));
        Assert.Equal(1, called);
    }

    [Fact]
    public async Task A_message_of_4_MiB_is_served_and_one_byte_more_is_resource_exhausted()
    {
        long largest = 0;
        await using var server = await GrpcTestServer.StartAsync(d => d.AddUnary<Payload, Empty>(Service, "Echo", Measure,
            (request, _) => { largest = Math.Max(largest, request.Length); return Task.FromResult(new Empty()); }));
        using var channel = server.Channel();
        var invoker = channel.CreateCallInvoker();

        await invoker.AsyncUnaryCall(Raw(Service, "Echo"), null, new CallOptions(deadline: DateTime.UtcNow + Wait), new byte[GrpcProtocol.MaxReceiveMessageSize]).ResponseAsync;
        var e = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(Raw(Service, "Echo"), null,
            new CallOptions(deadline: DateTime.UtcNow + Wait), new byte[GrpcProtocol.MaxReceiveMessageSize + 1]).ResponseAsync);

        Assert.Equal(GrpcProtocol.MaxReceiveMessageSize, largest);
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("maximum configured message size", e.Status.Detail, StringComparison.Ordinal);

        // Only the 5-byte prefix announcing 4 GiB is needed to refuse.
        using var http = server.Http();
        var prefix = new byte[] { 0, 0xFF, 0xFF, 0xFF, 0xFF };
        using var huge = await http.SendAsync(GrpcRequest("/test.Service/Echo", prefix));
        Assert.Equal("8", Only(huge.Headers, "grpc-status"));
    }

    [Theory]
    [InlineData(new byte[] { }, "Request had no message.")]
    [InlineData(new byte[] { 0, 0, 0 }, "Incomplete message.")]
    [InlineData(new byte[] { 0, 0, 0, 0, 10, 1, 2, 3 }, "Incomplete message.")]
    [InlineData(new byte[] { 0, 0, 0, 0, 1, 7, 0, 0, 0, 0, 1, 8 }, "Additional data after the message received.")]
    public async Task A_body_that_is_not_exactly_one_message_is_internal(byte[] body, string detail)
    {
        var called = 0;
        await using var server = await GrpcTestServer.StartAsync(d => d.AddUnary<Payload, Empty>(Service, "Echo", Measure,
            (_, _) => { Interlocked.Increment(ref called); return Task.FromResult(new Empty()); }));
        using var http = server.Http();

        using var response = await http.SendAsync(GrpcRequest("/test.Service/Echo", body));
        await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("13", Only(response.Headers, "grpc-status") ?? Only(response.TrailingHeaders, "grpc-status"));
        Assert.Equal(detail, Only(response.Headers, "grpc-message") ?? Only(response.TrailingHeaders, "grpc-message"));
        Assert.Equal(0, called);
    }

    [Fact]
    public async Task A_unary_call_past_its_grpc_timeout_is_deadline_exceeded_and_its_token_is_cancelled_without_waiting_for_it()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<Empty>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await GrpcTestServer.StartAsync(d => d.AddUnary<Payload, Empty>(Service, "Hang", Measure, (_, context) =>
        {
            Assert.True(context.Deadline < DateTime.UtcNow.AddMinutes(1));
            context.CancellationToken.Register(() => cancelled.TrySetResult());
            return release.Task; // Ignores its token: the answer must not wait for it.
        }));
        using var http = server.Http();
        try
        {
            using var request = GrpcRequest("/test.Service/Hang", Frame([]));
            request.Headers.TryAddWithoutValidation("grpc-timeout", "100m");
            using var response = await http.SendAsync(request).WaitAsync(Wait);
            await response.Content.ReadAsByteArrayAsync();

            Assert.Equal("4", Only(response.Headers, "grpc-status") ?? Only(response.TrailingHeaders, "grpc-status"));
            await cancelled.Task.WaitAsync(Wait);
        }
        finally
        {
            release.TrySetResult(new Empty());
        }
    }

    [Fact]
    public async Task A_stream_flushes_each_message_and_ends_deadline_exceeded_in_the_trailers_at_its_grpc_timeout()
    {
        var firstRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await GrpcTestServer.StartAsync(d => d.AddServerStreaming<Payload, Empty>(Service, "Watch", Measure,
            async (_, stream, context) =>
            {
                await stream.WriteAsync(new Empty());
                // The client reads the first message before the second is written: it must have been flushed. Not
                // bound to the call's token: however slow the client, the second message goes out before the end.
                await firstRead.Task.WaitAsync(Wait);
                await stream.WriteAsync(new Empty());
                try
                {
                    await Task.Delay(Timeout.Infinite, context.CancellationToken);
                }
                catch (OperationCanceledException)
                {
                    // Ends normally at the deadline, as ListAndWatch does: the status still says why.
                }
            }));
        using var http = server.Http();
        using var request = GrpcRequest("/test.Service/Watch", Frame([]));
        request.Headers.TryAddWithoutValidation("grpc-timeout", "1S");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Wait);
        var body = await response.Content.ReadAsStreamAsync();

        var first = new byte[GrpcProtocol.HeaderLength];
        await body.ReadExactlyAsync(first).AsTask().WaitAsync(Wait);
        firstRead.SetResult();
        var rest = new MemoryStream();
        await body.CopyToAsync(rest).WaitAsync(Wait);

        Assert.Equal(new byte[5], first);
        Assert.Equal(new byte[5], rest.ToArray());
        Assert.Null(Only(response.Headers, "grpc-status"));
        Assert.Equal("4", Only(response.TrailingHeaders, "grpc-status"));
    }

    [Fact]
    public async Task A_stream_the_client_cancels_has_its_token_cancelled()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await GrpcTestServer.StartAsync(d => d.AddServerStreaming<Payload, Empty>(Service, "Watch", Measure,
            async (_, stream, context) =>
            {
                await stream.WriteAsync(new Empty());
                try
                {
                    await Task.Delay(Timeout.Infinite, context.CancellationToken);
                }
                catch (OperationCanceledException)
                {
                    cancelled.TrySetResult();
                }
            }));
        using var channel = server.Channel();
        using var cts = new CancellationTokenSource();
        using var call = channel.CreateCallInvoker().AsyncServerStreamingCall(Raw(Service, "Watch", MethodType.ServerStreaming), null,
            new CallOptions(cancellationToken: cts.Token), []);

        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Wait));
        await cts.CancelAsync();

        await cancelled.Task.WaitAsync(Wait);
    }

    [Fact]
    public async Task A_refusal_is_a_trailers_only_response_with_its_message_percent_encoded_and_an_answer_has_its_status_in_the_trailers()
    {
        const string detail = "no device \"gpü-0%\" here\nsecond line";
        await using var server = await GrpcTestServer.StartAsync(d =>
        {
            d.AddUnary<Payload, Empty>(Service, "Refuse", Measure, (_, _) => throw new RpcException(new Status(StatusCode.NotFound, detail),
                new Metadata { { "reason", "absent" } }));
            d.AddUnary<Payload, Empty>(Service, "Echo", Measure, (_, _) => Task.FromResult(new Empty()));
        });
        using var http = server.Http();

        using var refused = await http.SendAsync(GrpcRequest("/test.Service/Refuse", Frame([])));
        var refusedBody = await refused.Content.ReadAsByteArrayAsync();
        Assert.Empty(refusedBody);
        Assert.Equal("5", Only(refused.Headers, "grpc-status"));
        Assert.Equal("no device \"gp%C3%BC-0%25\" here%0Asecond line", Only(refused.Headers, "grpc-message"));
        Assert.Equal("absent", Only(refused.Headers, "reason"));
        Assert.Empty(refused.TrailingHeaders);
        Assert.Equal("application/grpc", refused.Content.Headers.ContentType?.MediaType);

        using var answered = await http.SendAsync(GrpcRequest("/test.Service/Echo", Frame([])));
        Assert.Equal(new byte[5], await answered.Content.ReadAsByteArrayAsync());
        Assert.Null(Only(answered.Headers, "grpc-status"));
        Assert.Equal("0", Only(answered.TrailingHeaders, "grpc-status"));

        // A gRPC client reads the message back as it was.
        using var channel = server.Channel();
        var e = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker().AsyncUnaryCall(Raw(Service, "Refuse"), null,
            new CallOptions(deadline: DateTime.UtcNow + Wait), []).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Equal(detail, e.Status.Detail);
    }

    [Fact]
    public async Task An_exception_of_the_service_is_unknown_with_one_error_line_and_the_connection_keeps_serving()
    {
        await using var server = await GrpcTestServer.StartAsync(d =>
        {
            d.AddUnary<Payload, Empty>(Service, "Fail", Measure, (_, _) => throw new InvalidOperationException("broken inside"));
            d.AddUnary<Payload, Empty>(Service, "Echo", Measure, (_, _) => Task.FromResult(new Empty()));
        });
        using var channel = server.Channel();
        var invoker = channel.CreateCallInvoker();

        var e = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(Raw(Service, "Fail"), null, new CallOptions(deadline: DateTime.UtcNow + Wait), []).ResponseAsync);
        await invoker.AsyncUnaryCall(Raw(Service, "Echo"), null, new CallOptions(deadline: DateTime.UtcNow + Wait), []).ResponseAsync;

        Assert.Equal(StatusCode.Unknown, e.StatusCode);
        Assert.Equal("Exception was thrown by handler.", e.Status.Detail);
        Assert.Single(server.Logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) && l.Contains("/test.Service/Fail", StringComparison.Ordinal)
            && l.Contains("broken inside", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_request_below_HTTP_2_is_426()
    {
        var dispatcher = new GrpcDispatcher([], NullLogger.Instance);
        dispatcher.AddUnary<Payload, Empty>(Service, "Echo", Measure, (_, _) => Task.FromResult(new Empty()));
        var http = new DefaultHttpContext();
        http.Request.Method = "POST";
        http.Request.Protocol = "HTTP/1.1";
        http.Request.ContentType = "application/grpc";
        http.Request.Path = "/test.Service/Echo";

        await dispatcher.DispatchAsync(http);

        Assert.Equal(StatusCodes.Status426UpgradeRequired, http.Response.StatusCode);
        Assert.Equal("13", http.Response.Headers["grpc-status"].ToString());
    }

    [Theory]
    [InlineData("1H", 3_600_000.0)]
    [InlineData("2M", 120_000.0)]
    [InlineData("3S", 3_000.0)]
    [InlineData("100m", 100.0)]
    [InlineData("2500u", 2.5)]
    [InlineData("99999999n", 99.9999)]
    [InlineData("0m", 0.0)]
    public void A_grpc_timeout_is_read_with_its_unit(string text, double milliseconds)
    {
        Assert.True(GrpcProtocol.TryParseTimeout(text, out var timeout));
        Assert.Equal(milliseconds, timeout.TotalMilliseconds, 4);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("123456789S")]
    [InlineData("-1S")]
    [InlineData("1s")]
    [InlineData("1.5S")]
    public void A_malformed_grpc_timeout_is_no_deadline(string? text) =>
        Assert.False(GrpcProtocol.TryParseTimeout(text, out _));

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("100%", "100%25")]
    [InlineData("tab\there", "tab%09here")]
    [InlineData("…", "%E2%80%A6")]
    [InlineData("~ok", "~ok")]
    public void Grpc_message_is_percent_encoded_outside_printable_ascii(string message, string encoded) =>
        Assert.Equal(encoded, GrpcProtocol.EncodeMessage(message));

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("Application/GRPC; charset=utf-8", true)]
    [InlineData("application/grpc-web", false)]
    [InlineData("application/grpcx", false)]
    [InlineData("text/plain", false)]
    [InlineData(null, false)]
    public void The_grpc_content_types_are_recognised(string? contentType, bool grpc) =>
        Assert.Equal(grpc, GrpcProtocol.IsGrpcContentType(contentType));

    private sealed class Recording(string name, List<string> seen) : Interceptor
    {
        public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
            UnaryServerMethod<TRequest, TResponse> continuation)
        {
            seen.Add($"{name} {context.Method}");
            return continuation(request, context);
        }
    }
}
