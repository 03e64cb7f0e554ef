"""skelact.stream: everything on the serving path (torch-free).

Skeleton layouts and normalisation, data readers, the wire protocol, the ONNX engine,
smoothing, the event state machine, the runtime and the pose sources.
"""
