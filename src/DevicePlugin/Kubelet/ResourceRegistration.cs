namespace DevicePlugin.Kubelet;

/// <summary>
/// Where one resource stands with the kubelet, and what its server loop is asked to do next: the registration state
/// machine (Pending → Registered, or Failed and retried) and the kubelet-restart detection that sends it back to
/// Pending. Every transition is one step under one lock, so a directory check never mistakes the loop's own socket
/// recreation for a kubelet restart: the loop leaves Registered (<see cref="TakeRequests"/>) before it touches the
/// socket.
/// </summary>
internal sealed class ResourceRegistration
{
    private readonly Lock _lock = new();
    private bool _recreate = true;
    private bool _reregister = true;
    private RegistrationState _state = RegistrationState.Pending;
    private KubeletSocketIdentity? _registeredWith;
    private KubeletSocketIdentity? _registeringWith;
    private CancellationTokenSource? _call;
    private string? _abandonReason;
    private string? _lastError;

    public RegistrationState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    public string? LastError
    {
        get
        {
            lock (_lock)
            {
                return _lastError;
            }
        }
    }

    public KubeletSocketIdentity? RegisteredWith
    {
        get
        {
            lock (_lock)
            {
                return _registeredWith;
            }
        }
    }

    /// <summary>Asks for a new registration, on a fresh socket when <paramref name="recreateSocket"/>.</summary>
    public void Request(bool recreateSocket)
    {
        lock (_lock)
        {
            _reregister = true;
            _recreate |= recreateSocket;
        }
    }

    /// <summary>Takes what was asked; when anything was, the resource is Pending from here on.</summary>
    public (bool Recreate, bool Reregister) TakeRequests()
    {
        lock (_lock)
        {
            var taken = (_recreate, _reregister);
            _recreate = false;
            _reregister = false;
            if (taken._recreate || taken._reregister)
            {
                _state = RegistrationState.Pending;
            }

            return taken;
        }
    }

    /// <summary>
    /// One kubelet-directory check: a registered resource whose socket is gone or whose kubelet.sock was created anew
    /// goes back to Pending with a new socket asked for (the reason is returned); a Register call in flight to a
    /// kubelet that has since been replaced is handed back to be cancelled; a waiting retry is woken when a kubelet is there.
    /// </summary>
    public KubeletCheck Check(KubeletSocketIdentity? kubelet, string socketPath)
    {
        lock (_lock)
        {
            if (_state == RegistrationState.Registered)
            {
                string? restarted = null;
                if (!File.Exists(socketPath))
                {
                    restarted = $"our socket {Path.GetFileName(socketPath)} was deleted";
                }
                else if (kubelet is not null && _registeredWith is not null && kubelet != _registeredWith)
                {
                    restarted = "kubelet.sock was created anew";
                }

                if (restarted is null)
                {
                    return default;
                }

                _state = RegistrationState.Pending;
                _reregister = true;
                _recreate = true;
                return new KubeletCheck(restarted, null, Wake: true);
            }

            if (_call is not null)
            {
                if (kubelet is not null && _registeringWith is not null && kubelet != _registeringWith && _abandonReason is null)
                {
                    _abandonReason = "a new kubelet.sock appeared while Register was pending";
                    return new KubeletCheck(null, _call, Wake: false);
                }

                return default;
            }

            // The kubelet (re)appeared while we wait to retry: try now rather than at the end of the backoff.
            return new KubeletCheck(null, null, Wake: kubelet is not null);
        }
    }

    /// <summary>A Register call to <paramref name="kubelet"/> begins; <paramref name="call"/> cancels it.</summary>
    public void CallStarted(KubeletSocketIdentity kubelet, CancellationTokenSource call)
    {
        lock (_lock)
        {
            _registeringWith = kubelet;
            _call = call;
            _abandonReason = null;
        }
    }

    /// <summary>The call ended; returns why it was abandoned, if it was.</summary>
    public string? CallEnded()
    {
        lock (_lock)
        {
            _call = null;
            _registeringWith = null;
            return _abandonReason;
        }
    }

    public void Registered(KubeletSocketIdentity kubelet)
    {
        lock (_lock)
        {
            _registeredWith = kubelet;
            _state = RegistrationState.Registered;
            _lastError = null;
        }
    }

    /// <summary>Registration failed: a retry is asked for (on a fresh socket when none serves).</summary>
    public void Failed(string error, bool serving)
    {
        lock (_lock)
        {
            _state = RegistrationState.Failed;
            _lastError = error;
            _reregister = true;
            _recreate |= !serving;
        }
    }

    public void Stopped()
    {
        lock (_lock)
        {
            _state = RegistrationState.Pending;
        }
    }
}

/// <summary>What a kubelet-directory check found: a restart (its reason), a Register call to abandon, a retry to wake.</summary>
internal readonly record struct KubeletCheck(string? Restarted, CancellationTokenSource? Abandon, bool Wake);
