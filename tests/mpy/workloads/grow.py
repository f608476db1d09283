# More than the initial heap holds: the port adds heap areas (auto split heap).
import micropython

chunks = [bytearray(3000 + 100 * i) for i in range(40)]
more = ["x%d" % i * 10 for i in range(400)]
micropython.mem_info(1)
