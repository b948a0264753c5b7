"""A minimal OpenAI-style server that accepts (and ignores) SGLang flags: the stand-in
controller's fast default engine in tests. Serves ``GET /health`` and ``GET /v1/models``.

    python tiny_engine.py --tp-size 2 --served-model-name llama --host 127.0.0.1 --port 8080
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--served-model-name", default="model")
    args, ignored = parser.parse_known_args()
    models = json.dumps({"object": "list", "data": [{"id": args.served_model_name, "object": "model"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = {"/health": b"", "/v1/models": models}.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *a: object) -> None:  # noqa: A002
            pass

    print(f"tiny engine on {args.host}:{args.port}, serving {args.served_model_name!r}; ignored {ignored}", flush=True)
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
