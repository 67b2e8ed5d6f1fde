# Build the native executable, then ship it alone on a small base image.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
RUN apt-get update && apt-get install -y --no-install-recommends clang zlib1g-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN dotnet publish src/DevicePlugin -c Release -o /out

FROM debian:12-slim
# NVML (libnvidia-ml.so.1) comes from the host through the NVIDIA container toolkit or a hostPath mount.
COPY --from=build /out/device-plugin /usr/local/bin/device-plugin
ENTRYPOINT ["/usr/local/bin/device-plugin"]
