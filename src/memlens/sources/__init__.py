"""Sources: each turns one kind of target (PID, core, minidump...) into a Snapshot."""
