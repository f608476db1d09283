"""A live Linux process read through /proc and process_vm_readv, never written to."""
