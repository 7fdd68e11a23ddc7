"""A gRPC server for the front door's tests (tests/grpc.rs).

Generic handlers, no generated code: messages are raw bytes. Usage:
`server.py NAME`; prints `port N` once it listens on 127.0.0.1 (a port the
system chose). Service `bigstep.test.Echo`:

- Unary: `NAME:<request>`
- Stream (server streaming): the request is a count n; n replies `NAME:i`
- Fail: status PERMISSION_DENIED, details `no entry for <request>`
- Bidi: one reply `NAME:<message>` per message received
"""

import sys
from concurrent import futures

import grpc

NAME = sys.argv[1].encode()


def unary(request, context):
    return NAME + b":" + request


def stream(request, context):
    for i in range(int(request or b"3")):
        yield NAME + b":" + str(i).encode()


def fail(request, context):
    context.abort(grpc.StatusCode.PERMISSION_DENIED, "no entry for " + request.decode())


def bidi(requests, context):
    for r in requests:
        yield NAME + b":" + r


handlers = grpc.method_handlers_generic_handler(
    "bigstep.test.Echo",
    {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    },
)
server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
server.add_generic_rpc_handlers((handlers,))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(f"port {port}", flush=True)
server.wait_for_termination()
