namespace DevicePlugin.Cli;

/// <summary>
/// Writes log lines to stderr from a thread of its own, as the console logger does, so that a caller (a gRPC
/// handler) never waits on a slow or blocked stderr unless 2,500 lines are already queued. Lines queued together are
/// written with one write call. <see cref="Dispose"/> writes what is still queued (waiting up to 1.5 s for the
/// thread); a line logged after that is written on the caller's thread.
/// </summary>
internal sealed class StderrLineWriter(Stream output) : IDisposable
{
    private const int MaxQueued = 2500;
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromMilliseconds(1500);

    private readonly Queue<byte[]> _queue = new();
    private readonly MemoryStream _batch = new();
    private Thread? _thread;
    private bool _completed;
    private bool _broken;

    public void Enqueue(byte[] line)
    {
        lock (_queue)
        {
            while (_queue.Count >= MaxQueued && !_completed)
            {
                Monitor.Wait(_queue);
            }

            if (!_completed)
            {
                _queue.Enqueue(line);
                if (_thread is null)
                {
                    // Started with the first line, not when the logger is built: start-up does not wait for it.
                    _thread = new Thread(Run) { IsBackground = true, Name = "log writer" };
                    _thread.Start();
                }

                Monitor.PulseAll(_queue);
                return;
            }
        }

        lock (_batch)
        {
            Write([line]);
        }
    }

    public void Dispose()
    {
        Thread? thread;
        lock (_queue)
        {
            _completed = true;
            thread = _thread;
            Monitor.PulseAll(_queue);
        }

        thread?.Join(DrainTimeout);
    }

    private void Run()
    {
        var lines = new List<byte[]>();
        while (true)
        {
            lock (_queue)
            {
                while (_queue.Count == 0 && !_completed)
                {
                    Monitor.Wait(_queue);
                }

                if (_queue.Count == 0)
                {
                    return;
                }

                lines.AddRange(_queue);
                _queue.Clear();
                Monitor.PulseAll(_queue);
            }

            lock (_batch)
            {
                Write(lines);
            }

            lines.Clear();
        }
    }

    private void Write(IReadOnlyList<byte[]> lines)
    {
        if (_broken)
        {
            return;
        }

        try
        {
            if (lines.Count == 1)
            {
                output.Write(lines[0]);
            }
            else
            {
                _batch.SetLength(0);
                foreach (var line in lines)
                {
                    _batch.Write(line);
                }

                output.Write(_batch.GetBuffer().AsSpan(0, (int)_batch.Length));
                if (_batch.Capacity > 1 << 20)
                {
                    _batch.Capacity = 0;
                }
            }

            output.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
        {
            // stderr is gone: nothing can be told any more, and the daemon keeps serving.
            _broken = true;
        }
    }
}
