"""A gRPC client for the front door's tests (tests/grpc.rs): calls the
`bigstep.test.Echo` service of server.py through the front door and prints
what came back as one JSON object.

Usage: `client.py TARGET UNARY_CALLS [CA_FILE SERVER_NAME]` — with a CA file
the channel is TLS, verified against it, for SERVER_NAME.
"""

import json
import sys

import grpc

target, calls = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3:
    creds = grpc.ssl_channel_credentials(open(sys.argv[3], "rb").read())
    channel = grpc.secure_channel(
        target, creds, options=[("grpc.ssl_target_name_override", sys.argv[4])]
    )
else:
    channel = grpc.insecure_channel(target)

unary = channel.unary_unary("/bigstep.test.Echo/Unary")
stream = channel.unary_stream("/bigstep.test.Echo/Stream")
fail = channel.unary_unary("/bigstep.test.Echo/Fail")
bidi = channel.stream_stream("/bigstep.test.Echo/Bidi")


def error(e):
    return [e.code().name, e.details()]


out = {"unary": [], "errors": []}
for i in range(calls):
    try:
        out["unary"].append(unary(b"hi%d" % i, timeout=10).decode())
    except grpc.RpcError as e:
        out["errors"].append(error(e))
try:
    out["stream"] = [m.decode() for m in stream(b"3", timeout=10)]
except grpc.RpcError as e:
    out["stream"] = error(e)
try:
    fail(b"alice", timeout=10)
    out["fail"] = "OK"
except grpc.RpcError as e:
    out["fail"] = error(e)
try:
    out["bidi"] = [m.decode() for m in bidi(iter([b"a", b"b", b"c"]), timeout=10)]
except grpc.RpcError as e:
    out["bidi"] = error(e)
print(json.dumps(out), flush=True)
