"""KEDA's external scaler (`externalscaler.ExternalScaler` over gRPC) served by the exporter.

`stubs` compiles the project's `externalscaler.proto` at first use, `targets` turns a
ScaledObjectRef's `scalerMetadata` into what to read, `servicer` answers the RPCs from the
metrics-API provider, `changes` wakes `StreamIsActive` streams on snapshot writes, and
`listener` runs the grpc.aio server on the serving event loop.
"""
