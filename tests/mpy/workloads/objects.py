# Known objects of every lettered kind, then the table of exactly this heap.
import micropython


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


def area(p):
    return p.x * p.y


names = ["name-%d" % i for i in range(150)]
table = {"key%d" % i: i * 0.5 for i in range(60)}
points = [Point(i, i + 1) for i in range(40)]
numbers = tuple(range(25))
buf = bytearray(500)
blob = bytes(range(200))
floats = [i / 3 for i in range(30)]
micropython.mem_info(1)
