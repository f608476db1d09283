# Many small objects, kept; the next script drops every other one.
keep = [bytearray(24 + (i % 5) * 16) for i in range(600)]
words = ["w%d" % i * 3 for i in range(300)]
