"""Serves www/ on loopback with the headers the lab relies on.

The Content-Security-Policy travels as a header, not only in the page's meta tag, because a
worker takes its policy from its own response. Default models cached by scripts/assets.py
are served under /assets/.
"""

import argparse
import functools
import http.server
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
WWW = ROOT / "www"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "worker-src 'self'",
        # The hub, and the hosts its resolve URLs redirect downloads to; nothing else.
        "connect-src 'self' https://huggingface.co https://*.huggingface.co https://*.hf.co",
        "img-src 'self' blob: data:",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)


class LabHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
    }

    def __init__(self, *args, assets, **kwargs):
        self.assets = assets
        super().__init__(*args, directory=str(WWW), **kwargs)

    def translate_path(self, path):
        prefix = "/assets/"
        if path.startswith(prefix) and self.assets is not None:
            relative = pathlib.PurePosixPath(path[len(prefix) :].split("?")[0])
            if ".." not in relative.parts:
                return str(self.assets / relative)
        return super().translate_path(path)

    def end_headers(self):
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):
        if not self.server.quiet:
            super().log_message(format, *args)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--assets", type=pathlib.Path, default=None)
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    parser.add_argument(
        "--without-core",
        action="store_true",
        help="serve even when www/pkg is missing (for tests of the page that stand in for it)",
    )
    args = parser.parse_args()
    if not args.without_core and not (WWW / "pkg" / "superlab_bg.wasm").exists():
        sys.exit("www/pkg is missing: build the lab first with scripts/serve")
    handler = functools.partial(LabHandler, assets=args.assets)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.quiet = args.quiet
    print(f"SuperLab is served at http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
