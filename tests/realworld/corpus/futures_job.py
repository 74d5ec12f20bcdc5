"""concurrent.futures process and thread pools, and plain threads sharing a lock."""

import concurrent.futures
import sys
import threading


def checksum(block):
    return sum(i * i for i in range(block * 100, block * 100 + 100)) % 9973


def count_words(text):
    return len(text.split())


def main():
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        print("checksums", list(pool.map(checksum, range(20))))
    counted = {}
    lock = threading.Lock()

    def worker(i):
        n = count_words("alpha beta gamma " * i)
        with lock:
            counted[i] = n

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("words", sorted(counted.items()))
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        print("lengths", list(pool.map(count_words, ["a b", "c d e", "f"])))
    print("threads done", file=sys.stderr)


if __name__ == "__main__":
    main()
