"""Runs of the CPU engine forked at main() from one started process (tests/tools/fork_server.c,
an LD_PRELOAD library): a run costs no libtorch start-up and teardown (~0.2-0.3 s of CPU of
a tiny capture's ~0.3 s). Used by ref_kill_windows (with the kill shim) and, through run(),
by the parity tests' captures on the CPU."""
import atexit
import os
import select
import shutil
import subprocess
import sys
import tempfile

import refcommon as rc

LIB = (os.environ.get("QK_FORK_SERVER_LIB")
       or os.path.join(rc.BINARY_DIR, "tests", "fork_server.so"))
ENGINE = os.path.join(os.path.dirname(rc.QKGEOM_BIN), "qkgeom-engine-cpu")  # --device cpu runs it


def run_env(base=None):
    """The environment of an engine run: one OpenMP thread (ctest sets it; the fork server
    needs it) and OpenMP's passive wait, as the front end sets it before its exec."""
    env = dict(os.environ if base is None else base, OMP_NUM_THREADS="1")
    env.setdefault("OMP_WAIT_POLICY", "passive")
    return env


class ForkServer:
    """The CPU engine started once under fork_server.so (after the libraries in `preload`);
    run() forks it at main() for each request."""

    def __init__(self, preload=()):
        env = dict(run_env(), LD_PRELOAD=":".join([*preload, LIB]), QK_FORK_SERVER="1")
        self.proc = subprocess.Popen([ENGINE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env)

    def close(self):
        """Ends the server (end of input); killed when a run it waits for does not end."""
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def run(self, args, env, folder, timeout=300):
        """subprocess.run(args, env=env, capture_output=True, text=True) of the engine, as the
        front end would exec it; its stdout and stderr pass through two files beside `folder`."""
        out, err = folder.rstrip("/") + ".stdout", folder.rstrip("/") + ".stderr"
        fields = [os.getcwd(), out, err, str(len(args)), *args] + [f"{k}={v}" for k, v in env.items()]
        block = b"".join(x.encode() + b"\0" for x in fields)
        self.proc.stdin.write(b"%d\n" % len(block) + block)
        self.proc.stdin.flush()
        if not select.select([self.proc.stdout], [], [], timeout)[0]:
            sys.exit(f"FAILED: a run in the fork server did not end in {timeout} s: "
                     f"{' '.join(args)[:300]}")
        line = self.proc.stdout.readline().decode().split()
        if len(line) != 2:
            sys.exit(f"FAILED: the fork server ended (exit {self.proc.wait()})")
        code = -int(line[1]) if line[0] == "signal" else int(line[1])
        texts = [open(x, errors="replace").read() for x in (out, err)]
        for x in (out, err):
            os.remove(x)
        return subprocess.CompletedProcess(args, code, *texts)


_SHARED = {}


def usable():
    """Whether run() can fork: the library and the CPU engine are built and the process
    runs one OpenMP thread (more start OpenMP's pool before main; the server refuses)."""
    return (os.path.isfile(LIB) and os.access(ENGINE, os.X_OK)
            and os.environ.get("OMP_NUM_THREADS") == "1")


def _close_shared():
    _SHARED["server"].close()
    shutil.rmtree(_SHARED["dir"], ignore_errors=True)


def run(args, timeout=300):
    """subprocess.run(args, capture_output=True, text=True) of a `qkgeom` engine command that
    runs on the CPU (args[0] is the front end): forked from this process's one fork server
    when usable(), else exec'd."""
    if not usable():
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if "server" not in _SHARED:
        _SHARED["server"] = ForkServer()
        _SHARED["dir"] = tempfile.mkdtemp(prefix="qk_fork_")
        atexit.register(_close_shared)
    return _SHARED["server"].run(args, run_env(), os.path.join(_SHARED["dir"], "run"), timeout)
