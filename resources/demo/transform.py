"""JEM demo: a reconstruction "transform" that reads a configuration, processes events,
grows its memory, and dies of an exception several frames deep.

    python transform.py --config transform.json --events 60 --out reco.json
"""

import argparse
import json
import random
import sys
import time


class CalibrationError(Exception):
    """A hit on a channel the calibration does not know."""


class Calibration:
    def __init__(self, run, channels, missing):
        rng = random.Random(run)
        self.run = run
        self.gains = {ch: round(rng.uniform(0.8, 1.2), 3) for ch in range(channels) if ch not in missing}

    def gain(self, channel):
        try:
            return self.gains[channel]
        except KeyError:
            raise CalibrationError(f"no gain for channel {channel} in run {self.run}") from None


def read_config(path):
    with open(path) as f:
        config = json.load(f)
    config.setdefault("threshold", 2.0)
    return config


def make_event(number, rng, channels):
    n_hits = rng.randint(2, 4)
    hits = [(rng.randrange(channels // 2), round(rng.expovariate(0.3), 2)) for _ in range(n_hits)]
    if number == 20:
        hits.append((117, 9.75))  # a hit in the part the calibration lost
    return {"number": number, "hits": hits}


def calibrate(hit, calibration):
    channel, adc = hit
    gain = calibration.gain(channel)
    return channel, adc * gain


def reconstruct(event, calibration, threshold):
    energies = [calibrate(hit, calibration) for hit in event["hits"]]
    clusters = [e for e in energies if e[1] > threshold]
    total = sum(e for _, e in clusters)
    return {"event": event["number"], "clusters": len(clusters), "energy": round(total, 3)}


class Transform:
    def __init__(self, config):
        self.config = config
        self.calibration = Calibration(
            config["calibration"]["run"], config["channels"], config["calibration"]["missing_channels"]
        )
        self.cache = []
        self.results = []

    def process(self, event):
        result = reconstruct(event, self.calibration, self.config["threshold"])
        self.cache.append(bytearray(self.config["cache_chunk_kb"] * 1024))
        self.results.append(result)
        return result

    def run(self, n_events):
        rng = random.Random(self.config["seed"])
        for number in range(n_events):
            event = make_event(number, rng, self.config["channels"])
            result = self.process(event)
            if number % 10 == 0:
                print(f"event {number:3d}: {result['clusters']} clusters, {result['energy']:.2f} GeV")
                sys.stdout.flush()
            time.sleep(self.config["delay_ms"] / 1000.0)
        return self.results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--events", type=int, default=60)
    parser.add_argument("--out", default="reco.json")
    args = parser.parse_args()
    config = read_config(args.config)
    transform = Transform(config)
    results = transform.run(args.events)
    with open(args.out, "w") as f:
        json.dump(results, f)
    print(f"wrote {len(results)} events to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
