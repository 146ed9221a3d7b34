# Build: docker build -t gateway .
# Run:   docker run -p 8080:8080 -p 127.0.0.1:8081:8081 -v gateway-data:/app/data gateway
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig appsettings.json ./
COPY Gateway/Gateway.csproj Gateway/
COPY Gateway.Verification/Gateway.Verification.csproj Gateway.Verification/
COPY Gateway.Client/Gateway.Client.csproj Gateway.Client/
RUN dotnet restore Gateway/Gateway.csproj
COPY Gateway/ Gateway/
COPY Gateway.Verification/ Gateway.Verification/
COPY Gateway.Client/ Gateway.Client/
RUN dotnet publish Gateway/Gateway.csproj -c Release -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
# In a container the admin listener must bind all interfaces to be reachable through a published port;
# publish it on the host's loopback only (see the run line above).
ENV Kestrel__Endpoints__Proxy__Url=http://0.0.0.0:8080 \
    Kestrel__Endpoints__Admin__Url=http://0.0.0.0:8081 \
    Gateway__Demo__Enabled=false
RUN mkdir -p /app/data && chown -R app:app /app/data
USER app
VOLUME /app/data
EXPOSE 8080 8081
STOPSIGNAL SIGTERM
# The runtime image has no curl: the binary probes its own admin listener (/healthz on the Admin URL above).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["dotnet", "Gateway.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "Gateway.dll"]
