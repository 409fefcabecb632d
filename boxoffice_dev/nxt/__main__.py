import argparse
import threading

from boxoffice_dev.nxt.server import NxtEmulator

parser = argparse.ArgumentParser(description="NXT web-form emulator")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=9102)
args = parser.parse_args()
emulator = NxtEmulator(host=args.host, port=args.port, log_requests=True).start()
print(f"NXT emulator: {emulator.base_url}/login (reseller / nxt-test-pass)", flush=True)
try:
    threading.Event().wait()
except KeyboardInterrupt:
    pass
finally:
    emulator.stop()
