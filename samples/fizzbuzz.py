"""A small module with holes for infill to fill."""


def fizzbuzz(n: int) -> str:
    """Return "Fizz", "Buzz", "FizzBuzz" or the number itself, for n >= 1."""
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return __FILL_1__
    if n % 5 == 0:
        return "Buzz"
    return str(n)


def mean(values: list[float]) -> float:
    if not values:
        raise ValueError("mean of an empty list")
    return __FILL__


# >>> infill
def main():
    for i in range(1, 16):
        print(fizzbuzz(i))
# <<< infill


if __name__ == "__main__":
    main()
