"""Verification time of a signed command, per algorithm (issue 6 goal: p99 under 1 ms).

    python -m benchmarks.verify [--n 2000]

Each sample is one `envelope.verify` of a distinct pre-signed command
(fresh nonce, so the replay cache does real work), with the chain already
verified once (the cache a running monitor has). The first, uncached
verification of each chain is printed as `cold`. Wall-clock percentiles
include time the process waited for a core; the `cpu` columns are the
thread's own CPU time, which other load on the machine does not inflate.
`sig p50` is the bare signature check by `cryptography` (OpenSSL), the floor
no envelope code can go below.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from jemgui.live.envelope import ReplayCache, new_command, sign, verify
from jemgui.live.trust import TrustStore
from tests.live.pki import TestPKI


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _bare_check(alg: str, public_key, body: bytes):
    """A callable that checks only the signature of `body`, with `cryptography` directly."""
    outer = json.loads(body)
    data = f"{outer['protected']}.{outer['payload']}".encode()
    sig = base64.urlsafe_b64decode(outer["signature"] + "=" * (-len(outer["signature"]) % 4))
    sha = hashes.SHA384() if alg == "ES384" else hashes.SHA256()
    if alg == "PS256":
        return lambda: public_key.verify(sig, data, padding.PSS(padding.MGF1(sha), 32), sha)
    if alg == "RS256":
        return lambda: public_key.verify(sig, data, padding.PKCS1v15(), sha)
    if alg.startswith("ES"):
        half = len(sig) // 2
        der = utils.encode_dss_signature(int.from_bytes(sig[:half], "big"),
                                         int.from_bytes(sig[half:], "big"))
        return lambda: public_key.verify(der, data, ec.ECDSA(sha))
    return lambda: public_key.verify(sig, data)


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
        print(f"{'alg':6} {'signer':36} {'cold':>7} {'p50':>7} {'p99':>7} {'max':>7} "
              f"{'cpu p50':>8} {'cpu p99':>8} {'sig p50':>8}  (µs, n={args.n})")
        for alg, who, label in cases:
            bodies = [sign(new_command("bench", "ping", lifetime=300), who, alg)
                      for _ in range(args.n + 1)]
            trust = TrustStore.from_dir(pki.ca_dir)  # a cold chain cache per case
            replay = ReplayCache()
            samples, cpu = [], []
            for body in bodies:
                c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
                verify(body, "bench", trust, replay)
                samples.append((time.perf_counter_ns() - t0) / 1000)
                cpu.append((time.thread_time_ns() - c0) / 1000)
            cold, warm, cpu = samples[0], sorted(samples[1:]), sorted(cpu[1:])
            bare = []
            for body in bodies[:200]:
                check = _bare_check(alg, who.cert.public_key(), body)
                c0 = time.thread_time_ns()
                check()
                bare.append((time.thread_time_ns() - c0) / 1000)
            print(f"{alg:6} {label:36} {cold:7.0f} {statistics.median(warm):7.0f} "
                  f"{_percentile(warm, 0.99):7.0f} {warm[-1]:7.0f} "
                  f"{statistics.median(cpu):8.0f} {_percentile(cpu, 0.99):8.0f} "
                  f"{statistics.median(bare):8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
