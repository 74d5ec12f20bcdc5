def total(n):
    result = 0
    for i in range(n):
        result += i
    return result


print(total(5))
