import sys


def produce(path):
    with open(path, "wb") as f:
        f.write(bytes(range(256)))
    sys.stdout.buffer.write(b"\x00\xffraw bytes\n")
    print("to stderr", file=sys.stderr)
    return 0


sys.stdout.flush()
sys.exit(produce(sys.argv[1]))
