"""A job that dies of an exception raised a few frames down, inside a comprehension."""


def read_run(number):
    runs = {1: "ok", 2: "ok"}
    return runs[number]


def check(numbers):
    return [read_run(n) for n in numbers]


def main():
    print("checking runs")
    print(check([1, 2]))
    check([1, 2, 3])


main()
