import micropython

micropython.mem_info(1)
