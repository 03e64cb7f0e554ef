import subprocess
import sys


def test_stream_imports_no_torch():
    code = (
        "import sys, importlib, pkgutil, skelact.stream as s\n"
        "for m in pkgutil.walk_packages(s.__path__, 'skelact.stream.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
