"""Dies of an exception several frames deep, through a frame of the standard library."""
import copy


class Payload:
    def __init__(self, items):
        self.items = items

    def __deepcopy__(self, memo):
        return Payload([check(item) for item in self.items])


def check(item):
    if item < 0:
        raise ValueError(f"negative item {item}")
    return item


class Job:
    def __init__(self, payload):
        self.payload = payload

    def run(self):
        return self.stage(lambda p: copy.deepcopy(p))

    def stage(self, step):
        return step(self.payload)


def main():
    try:
        check(-1)
    except ValueError:
        pass
    Job(Payload([1, 2, -3])).run()


main()
