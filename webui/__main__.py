"""`python -m webui [--port N] [--host ADDR] [--share --auth user:password] [--cpu]`: start the web UI.

Starting it again on the same port replaces the running instance (see webui/instance.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 7860


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m webui", description="Face fusion web UI")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--share", action="store_true", help="also ask Gradio for a public link (needs --auth)"
    )
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="require this login for the page and the API")
    parser.add_argument("--cpu", action="store_true", help="never use a GPU, even when one is present")
    args = parser.parse_args(argv)
    if args.auth is not None:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            parser.error("--auth must look like user:password (both parts non-empty)")
        args.auth = (user, password)
    if args.share and args.auth is None:
        parser.error(
            "--share publishes this app on a public link that anyone who finds it can use: "
            "add --auth user:password"
        )
    if not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number (1-65535)")
    return args


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    # Gradio's launch loop closes the server cleanly on KeyboardInterrupt.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before anything imports torch
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    from webui import instance, memory
    from webui.app import build_app, default_data_dir, launch_kwargs
    from webui.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"Invalid setting: {exc}", file=sys.stderr)
        return 2
    data_dir = default_data_dir()
    pid_path = instance.pid_file(data_dir, args.port)
    replaced = instance.stop_previous(pid_path)
    if replaced is not None:
        print(f"Stopped the previous instance (pid {replaced}) on port {args.port}.", flush=True)
    if not instance.wait_for_port(args.host, args.port):
        print(
            f"Port {args.port} is in use by another program. Stop it or choose another port with --port.",
            file=sys.stderr,
        )
        return 1
    instance.claim(pid_path)
    memory.limit_arenas()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        output_dir = data_dir / "outputs"
        demo = build_app(output_dir, force_cpu=args.cpu, settings=settings)
        _app, _local_url, share_url = demo.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            auth=args.auth,
            quiet=True,
            prevent_thread_lock=True,
            **launch_kwargs(output_dir, settings),  # type: ignore[arg-type]
        )
        shown_host = "127.0.0.1" if args.host == "0.0.0.0" else args.host
        print(f"Face fusion UI: http://{shown_host}:{args.port}  (listening on {args.host})", flush=True)
        if args.share:
            if share_url:
                print(f"Public link: {share_url}", flush=True)
            else:
                print("No public link could be made (no network?): serving locally only.", flush=True)
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        instance.release(pid_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
