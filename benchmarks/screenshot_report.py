"""Screenshot an HTML report with headless Chromium, to check how it looks offline."""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("html", type=Path, help="report to render, e.g. reports/support_reply/ablation.html")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--window-size", default="1280,2000")
    args = parser.parse_args(argv)
    html = args.html.resolve()
    if not html.is_file():
        parser.error(f"{args.html}: no such file")
    args.png.parent.mkdir(parents=True, exist_ok=True)
    # A fresh profile per run: no state from (or into) anyone's real browser profile.
    with tempfile.TemporaryDirectory(prefix="promptslim-chromium-") as profile:
        cmd = [
            args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={args.png.resolve()}",
            f"--window-size={args.window_size}", html.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not args.png.exists():
        sys.stderr.write(proc.stderr)
        return proc.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
