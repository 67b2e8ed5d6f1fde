using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using Grpc.Core;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace DevicePlugin.Hosting;

/// <summary>
/// The parts of gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md) that <see cref="GrpcDispatcher"/> speaks: length-prefixed
/// messages, <c>grpc-timeout</c>, <c>grpc-status</c>/<c>grpc-message</c> (percent-encoded) and metadata.
/// </summary>
public static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";
    public const string TimeoutHeader = "grpc-timeout";

    /// <summary>The 1-byte compressed flag and the 4-byte big-endian length before every message.</summary>
    public const int HeaderLength = 5;

    /// <summary>The largest request message: the kubelet's own gRPC limit, as grpc-dotnet's default.</summary>
    public const int MaxReceiveMessageSize = 4 * 1024 * 1024;

    /// <summary>
    /// Whether <paramref name="contentType"/> is gRPC's: <c>application/grpc</c>, alone or with a <c>+format</c> or
    /// <c>;parameters</c> suffix (ASCII case-insensitive).
    /// </summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return contentType.Length == ContentType.Length || contentType[ContentType.Length] is '+' or ';';
    }

    /// <summary>
    /// Reads a <c>grpc-timeout</c> value (1 to 8 digits and a unit: H, M, S, m, u, n); false for anything else.
    /// </summary>
    public static bool TryParseTimeout(string? text, out TimeSpan timeout)
    {
        timeout = default;
        if (text is null || text.Length is < 2 or > 9)
        {
            return false;
        }

        long value = 0;
        for (var i = 0; i < text.Length - 1; i++)
        {
            var c = text[i];
            if (c is < '0' or > '9')
            {
                return false;
            }

            value = value * 10 + (c - '0');
        }

        timeout = text[^1] switch
        {
            'H' => TimeSpan.FromHours(value),
            'M' => TimeSpan.FromMinutes(value),
            'S' => TimeSpan.FromSeconds(value),
            'm' => TimeSpan.FromMilliseconds(value),
            'u' => TimeSpan.FromMicroseconds(value),
            'n' => TimeSpan.FromTicks(value / 100),
            _ => TimeSpan.MinValue,
        };
        return timeout != TimeSpan.MinValue;
    }

    /// <summary>
    /// <c>grpc-message</c>'s encoding: the text's UTF-8 bytes, each outside printable ASCII (0x20 - 0x7E) and each
    /// <c>%</c> written as <c>%XX</c>.
    /// </summary>
    public static string EncodeMessage(string message)
    {
        var plain = true;
        foreach (var c in message)
        {
            if (c is < ' ' or > '~' or '%')
            {
                plain = false;
                break;
            }
        }

        if (plain)
        {
            return message;
        }

        var text = new StringBuilder(message.Length + 16);
        foreach (var b in Encoding.UTF8.GetBytes(message))
        {
            if (b is < 0x20 or > 0x7E or (byte)'%')
            {
                text.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                text.Append((char)b);
            }
        }

        return text.ToString();
    }

    /// <summary>The request's headers as gRPC metadata: no pseudo-headers, <c>-bin</c> values base64-decoded.</summary>
    public static Metadata MetadataOf(IHeaderDictionary headers)
    {
        var metadata = new Metadata();
        foreach (var (name, values) in headers)
        {
            if (name.StartsWith(':') || name.Equals("content-type", StringComparison.OrdinalIgnoreCase)
                || name.Equals("te", StringComparison.OrdinalIgnoreCase) || name.Equals("host", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var key = name.ToLowerInvariant();
            foreach (var value in values)
            {
                if (value is null)
                {
                    continue;
                }

                if (key.EndsWith(Metadata.BinaryHeaderSuffix, StringComparison.Ordinal))
                {
                    var bytes = new byte[value.Length];
                    if (Convert.TryFromBase64String(PadBase64(value), bytes, out var written))
                    {
                        metadata.Add(key, bytes.AsSpan(0, written).ToArray());
                    }
                }
                else
                {
                    metadata.Add(key, value);
                }
            }
        }

        return metadata;
    }

    /// <summary>Adds gRPC metadata to HTTP headers or trailers (<c>-bin</c> values base64 without padding).</summary>
    public static void Add(IHeaderDictionary headers, Metadata metadata)
    {
        foreach (var entry in metadata)
        {
            var value = entry.IsBinary ? Convert.ToBase64String(entry.ValueBytes).TrimEnd('=') : entry.Value;
            headers.Append(entry.Key, value);
        }
    }

    private static string PadBase64(string value) => (value.Length % 4) switch
    {
        2 => value + "==",
        3 => value + "=",
        _ => value,
    };

    /// <summary>
    /// Reads the request's one message (unary and server-streaming calls) and parses it with <paramref name="parse"/>;
    /// an <see cref="RpcException"/> for a compressed message, one over <paramref name="maxSize"/>, a body that ends
    /// inside or before it, or data after it.
    /// </summary>
    public static async ValueTask<T> ReadSingleMessageAsync<T>(PipeReader body, int maxSize, Func<ReadOnlySequence<byte>, T> parse, CancellationToken token)
    {
        var needed = HeaderLength;
        while (true)
        {
            var result = await body.ReadAtLeastAsync(needed, token);
            var buffer = result.Buffer;
            T message;
            try
            {
                if (buffer.Length < HeaderLength)
                {
                    throw new RpcException(new Status(StatusCode.Internal, buffer.IsEmpty ? "Request had no message." : "Incomplete message."));
                }

                Span<byte> header = stackalloc byte[HeaderLength];
                buffer.Slice(0, HeaderLength).CopyTo(header);
                if (header[0] != 0)
                {
                    throw new RpcException(new Status(StatusCode.Internal, header[0] == 1
                        ? "Request sent a compressed message: this server accepts grpc-encoding identity only."
                        : $"Request sent an invalid compressed flag ({header[0]})."));
                }

                var length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
                if (length > maxSize)
                {
                    throw new RpcException(new Status(StatusCode.ResourceExhausted,
                        $"Received message exceeds the maximum configured message size ({length} > {maxSize} bytes)."));
                }

                needed = HeaderLength + (int)length;
                if (buffer.Length < needed)
                {
                    if (result.IsCompleted)
                    {
                        throw new RpcException(new Status(StatusCode.Internal, "Incomplete message."));
                    }

                    body.AdvanceTo(buffer.Start, buffer.End);
                    continue;
                }

                if (buffer.Length > needed)
                {
                    throw new RpcException(new Status(StatusCode.Internal, "Additional data after the message received."));
                }

                message = parse(buffer.Slice(HeaderLength, length));
            }
            catch
            {
                body.AdvanceTo(buffer.End);
                throw;
            }

            body.AdvanceTo(buffer.End);

            // One message per call: anything after it is a protocol error.
            if (!result.IsCompleted)
            {
                var rest = await body.ReadAsync(token);
                var extra = !rest.Buffer.IsEmpty;
                body.AdvanceTo(rest.Buffer.End);
                if (extra)
                {
                    throw new RpcException(new Status(StatusCode.Internal, "Additional data after the message received."));
                }
            }

            return message;
        }
    }

    /// <summary>Writes one message (uncompressed) after its 5-byte prefix; the caller flushes.</summary>
    public static void WriteMessage(PipeWriter writer, Google.Protobuf.IMessage message)
    {
        var size = message.CalculateSize();
        var header = writer.GetSpan(HeaderLength);
        header[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)size);
        writer.Advance(HeaderLength);
        Google.Protobuf.MessageExtensions.WriteTo(message, writer);
    }

    /// <summary>
    /// Ends the call with <paramref name="status"/>: in the trailers when a message or the headers were written
    /// (<paramref name="started"/>; they may still be buffered), else as a trailers-only response (the status in the
    /// one HEADERS frame, no body).
    /// </summary>
    public static void SetStatus(HttpResponse response, Status status, Metadata? trailers, bool started = false)
    {
        IHeaderDictionary target;
        if (started || response.HasStarted)
        {
            target = response.HttpContext.Features.Get<IHttpResponseTrailersFeature>()?.Trailers
                ?? throw new InvalidOperationException("the response cannot carry trailers (not HTTP/2)");
        }
        else
        {
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = ContentType;
            target = response.Headers;
        }

        if (trailers is not null)
        {
            Add(target, trailers);
        }

        target[StatusHeader] = new StringValues(((int)status.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (!string.IsNullOrEmpty(status.Detail))
        {
            target[MessageHeader] = EncodeMessage(status.Detail);
        }
    }
}
