# Runs after fragment_build.py: the collection at the start of this outer call
# frees what the previous script dropped here.
import micropython

for i in range(0, len(keep), 2):
    keep[i] = None
for i in range(1, len(words), 2):
    words[i] = None
