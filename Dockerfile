# The device plugin's image: the Native AOT executable and the C libraries it links, nothing else.
#   docker build -t REGISTRY/device-plugin:VERSION .      (README.md, "Deploy")
# .ci/image-smoke checks this file without a registry or a Docker daemon: it assembles the runtime stage's root
# filesystem (the executable plus the libraries it loads), runs `--help` and the demo inside it, and checks that the
# executable needs no newer glibc than the runtime base below has (its table names that base's glibc).

# Build: the publish exactly as CI runs it (.ci/run). Ubuntu 24.04, glibc 2.39, as the runtime base.
FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN dotnet publish src/DevicePlugin -c Release -o /out

# Runtime: Microsoft's chiseled Ubuntu 24.04 base for native executables: glibc and a few libraries, no shell, no
# package manager. The executable links only libc, libm and the dynamic loader (ldd); NVML is loaded at run time
# from the driver that the NVIDIA container runtime mounts in (or from --driver-root).
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled
# Ask the NVIDIA container runtime (runtimeClassName: nvidia) for every GPU's device nodes and for the driver's
# utility libraries (libnvidia-ml.so.1): NVML is all the plugin uses.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=utility
COPY --from=build /out/device-plugin /usr/local/bin/device-plugin
# The DaemonSet runs it as uid 0 without capabilities (daemonset.yaml says why); the base's default user is
# the unprivileged "app".
ENTRYPOINT ["/usr/local/bin/device-plugin"]
