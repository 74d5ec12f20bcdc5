"""A job whose output is not all text: raw bytes that are not UTF-8, a NUL, a long line
without a newline, and a few megabytes written in one go, on both streams."""

import sys

out, err = sys.stdout.buffer, sys.stderr.buffer
out.write(b"header \xff\xfe\x00 latin-1: caf\xe9\n")
err.write(b"warning \x80\x81 half a character: \xe2\x82\n")
out.write(b"x" * 100_000)
out.write(b"\n")
for i in range(20_000):
    out.write(b"event %6d energy %.3f GeV\n" % (i, i * 0.125))
out.flush()
err.write(b"done \xf0\x9f\x98\x80\n")
