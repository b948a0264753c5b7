"""A stand-in engine server for the local backend's tests (stdlib only, starts in ~50 ms).

Started as ``python fake_engine.py --mode MODE [options]`` followed by what the backend appends
(``--host --port --served-model-name`` and SGLang flags, which are ignored). Modes:

  serve     answer GET /health and GET /info (JSON: CUDA_VISIBLE_DEVICES, argv, pid)
  crash     print start-up lines and an error, exit 3
  hang      print a line, never listen
  clash     first start (no --marker file yet): create the marker, fail like a taken port;
            later starts: serve

Options for ``serve``: ``--children`` (a child that has a grandchild), ``--escaped-child``
(a child in its own session), ``--ignore-sigterm`` (it and its children ignore SIGTERM),
``--die-after S`` (exit 5 after S seconds), ``--print-args`` (print its argv first, as SGLang
prints its server arguments).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
PARENT_OF_SLEEPER = [sys.executable, "-c",
                     "import subprocess, sys, time; "
                     "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
                     "time.sleep(600)"]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/health":
            body = b"ok"
        elif self.path == "/info":
            body = json.dumps({"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                               "argv": sys.argv, "pid": os.getpid()}).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def serve(args: argparse.Namespace) -> int:
    if args.print_args:
        print(f"server_args={sys.argv[1:]}", flush=True)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the children through exec
    if args.children:
        subprocess.Popen(PARENT_OF_SLEEPER)
    if args.escaped_child:
        subprocess.Popen(SLEEPER, start_new_session=True)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    if args.die_after:
        threading.Timer(args.die_after, lambda: os._exit(5)).start()
    print(f"serving on {args.host}:{args.port}", flush=True)
    server.serve_forever()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--served-model-name", required=True)
    parser.add_argument("--marker")
    parser.add_argument("--children", action="store_true")
    parser.add_argument("--escaped-child", action="store_true")
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--die-after", type=float)
    parser.add_argument("--print-args", action="store_true")
    args, _sglang_flags = parser.parse_known_args()

    if args.mode == "crash":
        print("loading weights\nRuntimeError: not enough memory for the KV cache\nshutting down", flush=True)
        return 3
    if args.mode == "hang":
        print("loading weights forever", flush=True)
        time.sleep(600)
        return 0
    if args.mode == "clash" and not os.path.exists(args.marker):
        open(args.marker, "w").close()
        print("OSError: [Errno 98] Address already in use", flush=True)
        return 1
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
