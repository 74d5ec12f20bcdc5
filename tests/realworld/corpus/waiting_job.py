"""A job that computes, waits on its input for a moment, and computes again."""

import time

import work


def wait_for_input(seconds):
    time.sleep(seconds)


work.main()
wait_for_input(0.5)
work.main()
