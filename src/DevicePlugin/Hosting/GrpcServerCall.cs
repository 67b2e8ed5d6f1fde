using Grpc.Core;
using Microsoft.AspNetCore.Http.Features;

namespace DevicePlugin.Hosting;

/// <summary>
/// The <see cref="ServerCallContext"/> of one call that <see cref="GrpcDispatcher"/> serves: what interceptors and
/// services see of the call (method, deadline, cancellation, headers, trailers, status) over the HTTP/2 request that
/// carries it. The connection's features (<see cref="Features"/>) tell which socket the call came through.
/// </summary>
public sealed class GrpcServerCall : ServerCallContext
{
    private readonly HttpContext _http;
    private readonly string _method;
    private readonly DateTime _deadline;
    private readonly CancellationToken _token;
    private Metadata? _requestHeaders;
    private Metadata? _responseTrailers;
    private Dictionary<object, object>? _userState;
    private Status _status = Status.DefaultSuccess;

    internal GrpcServerCall(HttpContext http, string method, DateTime deadline, CancellationToken token)
    {
        _http = http;
        _method = method;
        _deadline = deadline;
        _token = token;
    }

    /// <summary>The request's features, which fall back to its connection's.</summary>
    public IFeatureCollection Features => _http.Features;

    /// <summary>Trailers the service added; null when none.</summary>
    internal Metadata? AddedTrailers => _responseTrailers;

    /// <summary>Set once the response headers went out (<see cref="WriteResponseHeadersAsync"/> or the first message).</summary>
    internal bool HeadersSent { get; private set; }

    /// <summary>The headers the service sent before the first message; null when none.</summary>
    private Metadata? _headers;

    protected override string MethodCore => _method;

    protected override string HostCore => _http.Request.Host.Value ?? "";

    protected override string PeerCore => _http.Connection.RemoteIpAddress is { } ip
        ? $"ipv{(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 6 : 4)}:{ip}:{_http.Connection.RemotePort}"
        : "unix:";

    protected override DateTime DeadlineCore => _deadline;

    protected override Metadata RequestHeadersCore => _requestHeaders ??= GrpcProtocol.MetadataOf(_http.Request.Headers);

    protected override CancellationToken CancellationTokenCore => _token;

    protected override Metadata ResponseTrailersCore => _responseTrailers ??= [];

    protected override Status StatusCore
    {
        get => _status;
        set => _status = value;
    }

    protected override WriteOptions? WriteOptionsCore { get; set; }

    protected override AuthContext AuthContextCore => new(null, new Dictionary<string, List<AuthProperty>>());

    protected override IDictionary<object, object> UserStateCore => _userState ??= [];

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException("this server makes no outgoing calls that a deadline or cancellation could propagate to");

    protected override async Task WriteResponseHeadersAsyncCore(Metadata responseHeaders)
    {
        if (HeadersSent)
        {
            throw new InvalidOperationException("Response headers can only be sent once per call.");
        }

        _headers = responseHeaders;
        StartResponse();
        await _http.Response.BodyWriter.FlushAsync(_token);
    }

    /// <summary>Sets the response's status and headers before its first byte (idempotent).</summary>
    internal void StartResponse()
    {
        if (HeadersSent)
        {
            return;
        }

        HeadersSent = true;
        var response = _http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocol.ContentType;
        if (_headers is { } headers)
        {
            GrpcProtocol.Add(response.Headers, headers);
        }
    }
}
