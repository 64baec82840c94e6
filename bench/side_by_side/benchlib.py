"""What the side-by-side benchmarks share: the machine and command of a run, and the
--json-out / --markdown-out files its results go to."""
import datetime
import json
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cpu_model():
    """The CPU model name from /proc/cpuinfo, else platform.processor(), else "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def utc_now():
    """This moment in UTC, ISO 8601 to the second (2026-11-30T09:50:00+00:00)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def command_line():
    """The command that started this run, shell-quoted."""
    return " ".join(shlex.quote(x) for x in sys.argv)


def add_output_args(ap, json_default=None, markdown_default=None):
    """--json-out and --markdown-out on the argparse parser `ap`."""
    ap.add_argument("--json-out", default=json_default, help="write the results as JSON")
    ap.add_argument("--markdown-out", default=markdown_default, help="write the results as Markdown")


def write_outputs(args, doc, markdown, indent=1):
    """doc as JSON to args.json_out and the markdown text (str or list of lines) to
    args.markdown_out, each when given."""
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(doc, indent=indent) + "\n")
    if args.markdown_out:
        text = markdown if isinstance(markdown, str) else "\n".join(markdown) + "\n"
        Path(args.markdown_out).write_text(text)
