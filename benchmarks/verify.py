"""Verification time of a signed command, per algorithm (issue 6 goal: p99 under 1 ms).

    python -m benchmarks.verify [--n 2000]

Each sample is one `envelope.verify` of a distinct pre-signed command
(fresh nonce, so the replay cache does real work), with the chain already
verified once (the cache a running monitor has). The first, uncached
verification of each chain is printed as `cold`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from jemgui.live.envelope import ReplayCache, new_command, sign, verify
from jemgui.live.trust import TrustStore
from tests.live.pki import TestPKI


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="commands per algorithm")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        pki = TestPKI(Path(tmp))
        trust = TrustStore.from_dir(pki.ca_dir)
        cases = [
            ("PS256", pki.owner, "RSA 2048, user cert"),
            ("RS256", pki.owner, "RSA 2048, user cert"),
            ("ES256", pki.shifter, "P-256, user cert"),
            ("ES384", pki.sub_user, "P-384, user cert + sub-CA"),
            ("EdDSA", pki.admin, "Ed25519, user cert"),
            ("ES256", pki.owner_proxy, "P-256, RFC 3820 proxy of RSA user"),
        ]
        print(f"{'alg':6} {'signer':36} {'cold':>8} {'p50':>8} {'p99':>8} {'max':>8}  (µs, n={args.n})")
        for alg, who, label in cases:
            bodies = [sign(new_command("bench", "ping", lifetime=300), who, alg)
                      for _ in range(args.n + 1)]
            trust = TrustStore.from_dir(pki.ca_dir)  # a cold chain cache per case
            replay = ReplayCache()
            samples = []
            for body in bodies:
                t0 = time.perf_counter_ns()
                verify(body, "bench", trust, replay)
                samples.append((time.perf_counter_ns() - t0) / 1000)
            cold, warm = samples[0], sorted(samples[1:])
            print(f"{alg:6} {label:36} {cold:8.0f} {statistics.median(warm):8.0f} "
                  f"{_percentile(warm, 0.99):8.0f} {warm[-1]:8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
